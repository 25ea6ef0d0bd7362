"""The served OpenAPI document and the routes agree, both ways."""

from __future__ import annotations

import httpx

from harborlite.api.openapi import (
    EXTENSION_PATHS,
    document_operations,
    route_operations,
    stored_document,
    with_error_responses,
)
from harborlite.api.routes import api_app
from tests.api.swagger import SWAGGER, document
from tests.harness import Harborlite


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    routes = route_operations(api_app().routes)
    documented = document_operations(stored_document())
    undocumented = sorted(routes - documented)
    missing = sorted(documented - routes)
    assert undocumented == [], f"routes missing from openapi.json: {undocumented}"
    assert missing == [], f"openapi.json documents routes that do not exist: {missing}"
    assert ("head", "/projects") in routes  # an explicit HEAD route is counted


def test_documented_operations_are_harbors_own_or_marked_as_ours() -> None:
    ours = stored_document()
    for method, path in document_operations(ours):
        operation = ours["paths"][path][method]
        if path in EXTENSION_PATHS:
            assert operation.get("x-harborlite") is True
            continue
        if SWAGGER.exists():
            harbors = with_error_responses(method, path, document()["paths"][path][method])
            assert operation == harbors, f"{method} {path} drifted"
    for ref_section in ("definitions", "parameters", "responses"):
        for name in ours[ref_section]:
            assert name in document()[ref_section]


def test_the_document_is_served(harborlite: Harborlite) -> None:
    response = httpx.get(f"{harborlite.url}/api/v2.0/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served["swagger"] == "2.0"
    assert served["basePath"] == "/api/v2.0"
    assert served["host"] == harborlite.host
    assert document_operations(served) == document_operations(stored_document())
    audit_fields = served["definitions"]["AuditLog"]["properties"]
    assert {"client_ip", "user_agent", "success", "detail"} <= set(audit_fields)
