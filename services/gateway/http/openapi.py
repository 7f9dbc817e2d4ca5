"""The OpenAPI 3.1 document of the gateway, built from the app's own routes and the pydantic models that
validate their input.

A route joins the document with per-route metadata by being an ``ApiRoute``::

    ApiRoute("/api/v3_0/sensors", list_sensors, methods=["GET"],
             doc=RouteDoc("List accessible sensors", tag="sensors", query=SensorListQuery, response=list[SensorOut]))

Plain Starlette routes are listed too (summary from the endpoint's docstring), so the document always covers
every route the app serves.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute, Mount, Route

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")

ERROR_TEXTS = {
    400: "Bad request (e.g. a JSON body that cannot be parsed).",
    401: "E2: not authenticated (missing, unknown or expired token; inactive user).",
    403: "E3: authenticated, but not allowed to do this.",
    404: "E4: not found.",
    422: "E1: input failed validation (path, query or body).",
}


@dataclass(frozen=True)
class RouteDoc:
    """What the OpenAPI document says about one route (all methods of the route share it)."""

    summary: str
    tag: str = ""
    description: str = ""
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None  # a pydantic model class, or e.g. ``list[Model]``; None: no documented body
    success: int = 200
    errors: tuple[int, ...] = (401, 422)
    public: bool = False  # True: no token needed


class ApiRoute(Route):
    """A Starlette ``Route`` carrying its ``RouteDoc``."""

    def __init__(self, path: str, endpoint: Any, *, methods: list[str], doc: RouteDoc, **kwargs: Any) -> None:
        super().__init__(path, endpoint, methods=methods, **kwargs)
        self.doc = doc


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


def operations(routes: Sequence[BaseRoute]) -> list[tuple[str, str]]:
    """Every (OpenAPI path, lower-case method) the routes serve; HEAD is implied by GET and left out."""
    return [
        (_PATH_PARAM.sub(r"{\1}", path), method.lower())
        for path, route in _walk(routes)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


class _Schemas:
    """Collects component schemas; returns ``$ref``s to them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, annotation: Any) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF_TEMPLATE)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.components[annotation.__name__] = schema
            return {"$ref": REF_TEMPLATE.format(model=annotation.__name__)}
        return schema


def _parameters(path: str, query: type[BaseModel] | None, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(path)
    ]
    if query is not None:
        schema = query.model_json_schema(ref_template=REF_TEMPLATE)
        schemas.components.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _operation(path: str, route: Route, method: str, schemas: _Schemas) -> dict[str, Any]:
    doc = route.doc if isinstance(route, ApiRoute) else None
    if doc is None:
        text = inspect.getdoc(route.endpoint) or route.name
        return {"summary": text.splitlines()[0], "operationId": f"{route.name}_{method}",
                "responses": {"200": {"description": "OK"}}}  # fmt: skip
    success: dict[str, Any] = {"description": "Success."}
    if doc.response is not None:
        success["content"] = {"application/json": {"schema": schemas.of(doc.response)}}
    responses: dict[str, Any] = {str(doc.success): success}
    for code in doc.errors:
        responses[str(code)] = {
            "description": ERROR_TEXTS.get(code, "Error."),
            "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="Error")}}},
        }
    op: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": f"{route.name}_{method}",
        "parameters": _parameters(path, doc.query, schemas),
        "responses": responses,
    }
    if doc.tag:
        op["tags"] = [doc.tag]
    if doc.description:
        op["description"] = doc.description
    if doc.body is not None and method in ("post", "put", "patch"):
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schemas.of(doc.body)}}}
    op["security"] = [] if doc.public else [{"token": []}]
    return op


ERROR_SCHEMA = {
    "type": "object",
    "description": "FlexMeasures-style error body (E1-E5; docs/api.md, 'Conventions').",
    "properties": {
        "message": {"description": "Text, or for E1 {location: {field: [texts]}}."},
        "status": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "result": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}


def build(routes: Sequence[BaseRoute], *, title: str = "FlexStream sensor API", version: str = "3.0") -> dict[str, Any]:
    schemas = _Schemas()
    schemas.components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for path, route in _walk(routes):
        openapi_path = _PATH_PARAM.sub(r"{\1}", path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                paths.setdefault(openapi_path, {})[method.lower()] = _operation(path, route, method.lower(), schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "FlexMeasures v3_0 compatible sensor API served by FlexStream. "
            "Authenticate with POST /api/requestAuthToken and send the token in the Authorization header.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
    }
