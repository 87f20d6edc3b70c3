"""A bounded Schemathesis run: requests generated from /api/v1/openapi.json, answers checked against it.

Each operation gets a few valid (positive) and invalid (negative) requests through WSGI, on each
database: no 5xx, every status documented, every body and required header as documented, and
invalid input refused with a 4xx.
"""
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.backoffice.schemas import EXAMPLE_CODE, EXAMPLE_RFC, EXAMPLE_SERIAL
from portal import key_codes
from tests import factories
from tests.api_support import token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = 15


@pytest.mark.stress  # hundreds of generated requests, valid and hostile
@pytest.mark.app_config(API_RATE_LIMIT="100000/minute")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_requests_get_documented_answers(app, mode):
    # The document's examples name this desk, service and key: with them, valid requests also succeed.
    desk = factories.desk(rfc=EXAMPLE_RFC)
    factories.service(desk, serial=EXAMPLE_SERIAL)
    factories.prepaid_key(code=key_codes.normalise(EXAMPLE_CODE))
    # Schemathesis' WSGI transport does not decode gzip: ask for the body uncompressed.
    headers = {"Authorization": f"Bearer {token()}", "Accept-Encoding": "identity"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=checks, headers=headers)

        run()
