"""The OpenAPI document: valid OpenAPI 3.1, lists every route of the app, built from the request models."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.routing import Mount, Route

from services.gateway.http.openapi import ApiRoute, RouteDoc, build, operations
from services.gateway.routes import ROUTES
from services.gateway.routes.docs import DOCUMENT_URL, PAGE_ASSETS, STATIC_URL, SWAGGER_UI_FILES, swagger_page
from services.gateway.schemas.sensors import SensorCreate, SensorListQuery


def test_document_is_valid_openapi() -> None:
    document = build(ROUTES)
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_route_of_the_app_is_listed() -> None:
    document = build(ROUTES)
    listed = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert set(operations(ROUTES)) <= listed
    assert ("/api/v3_0/sensors/{id}", "patch") in listed
    assert ("/api/v3_0/sensors", "get") in listed


def test_request_models_are_the_validating_ones() -> None:
    document = build(ROUTES)
    post = document["paths"]["/api/v3_0/sensors"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SensorCreate"}
    schema = document["components"]["schemas"]["SensorCreate"]
    assert set(schema["required"]) == {"name", "unit", "event_resolution", "generic_asset_id"}
    assert schema["additionalProperties"] is False  # extra="forbid"
    assert set(schema["properties"]) == set(SensorCreate.model_fields)
    params = {p["name"] for p in document["paths"]["/api/v3_0/sensors"]["get"]["parameters"]}
    assert params == set(SensorListQuery.model_fields)
    assert document["paths"]["/api/v3_0/sensors/{id}"]["get"]["parameters"][0]["in"] == "path"
    assert document["paths"]["/api/v3_0/sensors"]["get"]["security"] == [{"token": []}]
    assert document["paths"]["/api/requestAuthToken"]["post"]["security"] == []


class _Body(BaseModel):
    x: int


async def _endpoint(request: Any) -> None:
    """A plain route's docstring becomes its summary."""


def test_routes_join_generically_including_plain_and_mounted_ones() -> None:
    routes = [
        ApiRoute("/api/v3_0/things/{id:int}", _endpoint, methods=["POST"], doc=RouteDoc("Post a thing", body=_Body)),
        Route("/plain", _endpoint, methods=["GET"]),
        Mount("/sub", routes=[Route("/inner", _endpoint, methods=["DELETE"])]),
    ]
    document = build(routes)
    validate(document)
    assert document["paths"]["/api/v3_0/things/{id}"]["post"]["summary"] == "Post a thing"
    assert document["paths"]["/plain"]["get"]["summary"] == "A plain route's docstring becomes its summary."
    assert "delete" in document["paths"]["/sub/inner"]
    assert "head" not in document["paths"]["/plain"]
    assert "_Body" in document["components"]["schemas"]


def test_docs_page_loads_swagger_ui_from_the_gateway_only() -> None:
    page = swagger_page("FlexStream sensor API")
    assert f'url: "{DOCUMENT_URL}"' in page
    assert "http://" not in page and "https://" not in page  # nothing from a CDN
    for asset in PAGE_ASSETS:
        assert f'"{STATIC_URL}/{asset}"' in page
        assert (SWAGGER_UI_FILES / asset).is_file(), asset
