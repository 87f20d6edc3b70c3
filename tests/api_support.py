"""Helpers for the API tests: a token, and a client whose every answer is checked against the OpenAPI document."""
import re

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.backoffice.tokens import create_token
from portal.extensions import db
from portal.models.api_tokens import API_SCOPES

PREFIX = "/api/v1"


def token(name="billing", scopes=API_SCOPES):
    """A committed token; returns its secret."""
    _token, secret = create_token(name, list(scopes))
    db.session.commit()
    return secret


class OpenApi:
    """The served document, able to say whether an answer is one it describes."""

    def __init__(self, document):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:openapi", resource)
        self.routes = [(re.compile("^" + PREFIX + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), item)
                       for path, item in document["paths"].items()]

    def check(self, method, path, response):
        """Assert the status is documented for the operation and the body matches its schema."""
        path = path.split("?", 1)[0]
        item = next((item for pattern, item in self.routes if pattern.match(path)), None)
        assert item is not None, f"{path} is not in the OpenAPI document"
        operation = item.get(method.lower())
        assert operation is not None, f"{method} {path} is not in the OpenAPI document"
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{method} {path} answered {response.status_code}, not documented"
        assert response.mimetype == "application/json"
        schema = documented["content"]["application/json"]["schema"]
        validator = Draft202012Validator({"$ref": "urn:openapi" + schema["$ref"]}, registry=self.registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.get_json())]
        assert not errors, f"{method} {path} {response.status_code}: {errors}"
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, f"{method} {path} {response.status_code} lacks {name}"


class ApiClient:
    """The Flask test client with a bearer token; every response is checked against the document."""

    def __init__(self, client, secret):
        self.client = client
        self.secret = secret
        self.openapi = OpenApi(client.get(PREFIX + "/openapi.json").get_json())

    def call(self, method, path, json=None, secret=None, check=True, **kwargs):
        headers = kwargs.pop("headers", {})
        if (secret or self.secret) is not None:
            headers.setdefault("Authorization", f"Bearer {secret or self.secret}")
        response = self.client.open(PREFIX + path, method=method, json=json, headers=headers, **kwargs)
        if check:
            self.openapi.check(method, PREFIX + path, response)
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.call("PUT", path, json=json, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.call("POST", path, json=json, **kwargs)
