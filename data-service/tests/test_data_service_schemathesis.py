"""Fuzz the data service from its own OpenAPI document with schemathesis, over real HTTP: no server error, every
answer (status, content type, body) is one the document allows, and bodies the document forbids are refused.

Skipped without schemathesis (one of the project's dev tools).
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from animal_data_service.app import create_app  # noqa: E402

SMALL_LIMIT = 50  # the limit of the `small_server` fixture

# The document of an app with the same limit as `small_server`; reading it needs no server.
schema = schemathesis.openapi.from_dict(create_app(max_points=SMALL_LIMIT).openapi_schema.to_schema())


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_service_keeps_its_document(case, small_server):
    case.call_and_validate(base_url=small_server)
