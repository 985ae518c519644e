"""schemathesis against the live API's OpenAPI schema: no 5xx, every response as the schema
says. Runs against the real service process and Redis."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import redis_db

ADMIN = {"Authorization": "Bearer dev-admin-token"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_conforms_to_its_schema(service_factory, redis_server) -> None:
    # its own Redis database: with the admin token it replaces catalogs, records figures…
    env = {
        "EGOV_RATE_LIMIT_PER_S": "100000",
        "EGOV_RATE_LIMIT_BURST": "100000",
        "EGOV_REDIS_URL": redis_db(redis_server, 15),
    }
    api = service_factory("api", env)
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=ADMIN, checks=CHECKS)

        check()
