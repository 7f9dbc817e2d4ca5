"""The served OpenAPI document and docs page: public, valid, and listing every route of the running app."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate

from services.gateway.http.openapi import operations
from services.gateway.routes import ROUTES


def test_openapi_json_is_served_valid_and_complete(http: httpx.Client) -> None:
    answer = http.get("/api/v3_0/openapi.json")  # no token needed
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    document = answer.json()
    validate(document)
    listed = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert set(operations(ROUTES)) <= listed


def test_docs_page_is_served(http: httpx.Client) -> None:
    answer = http.get("/api/v3_0/docs")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in answer.text and '"/api/v3_0/openapi.json"' in answer.text
    script = http.get("/api/v3_0/docs/static/swagger-ui-bundle.js")  # served by the gateway itself, no CDN
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text
    assert http.get("/api/v3_0/docs/static/swagger-ui.css").status_code == 200
