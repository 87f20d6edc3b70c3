"""A second portal process for the shared-limits test: signs in N times and prints the statuses."""
import json
import sys

from portal import create_app
from tests.clock_helpers import follow_test_clock


def main(payload):
    follow_test_clock()
    spec = json.loads(payload)
    app = create_app(spec["config"])
    client = app.test_client()
    statuses = []
    for _ in range(spec["attempts"]):
        response = client.post("/cuenta/ingresar", data={"email": spec["email"], "password": spec["password"]},
                               environ_base={"REMOTE_ADDR": spec["ip"]})
        statuses.append(response.status_code)
    print(json.dumps(statuses))


if __name__ == "__main__":
    main(sys.argv[1])
