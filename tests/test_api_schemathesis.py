"""Property-based test of the whole API against its own OpenAPI schema, on a real server.

Every operation gets generated requests; no answer may be a 500 or break the schema. Runs on
whichever database DATABASE_URL names, PostgreSQL in CI.
"""

import json

import pytest
import schemathesis
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api_helpers import receive, vote

pytestmark = pytest.mark.slow

# The schema the server serves at /api/schema/, generated the same way in this process.
# (Loading it from the server through a fixture hits a schemathesis/pytest 9 incompatibility.)
schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
)


@pytest.fixture
def api(transactional_db, monkeypatch, request) -> tuple[str, dict]:
    """A server with a little of everything in its database, and a superuser's token."""
    # Hundreds of requests from one user: the rate limit would answer 429 to most.
    monkeypatch.setenv("API_RATE_LIMIT", "100000/min")
    base_url = request.getfixturevalue("server")
    token = Token.objects.create(user=User.objects.create_superuser("schemathesis"))
    vote("2125551212", "A", carrier="Verizon", country="US")
    receive("info", lead="HOURS", mobile="+447911123456", msg="hours?")
    receive("form", shortcode="12345", key="JOIN", mobile="3055550123", Name="=1+2")
    return base_url, {"Authorization": f"Token {token.key}"}


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api):
    base_url, headers = api
    case.call_and_validate(
        base_url=base_url,
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance],
    )
