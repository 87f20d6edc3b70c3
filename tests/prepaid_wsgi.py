"""WSGI entry for tests that start gunicorn: the portal built from PORTAL_TEST_APP_CONFIG (JSON)."""
import json
import os

from portal import create_app
from tests.clock_helpers import follow_test_clock

follow_test_clock()
app = create_app(json.loads(os.environ["PORTAL_TEST_APP_CONFIG"]))
