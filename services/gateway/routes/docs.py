"""``GET /api/v3_0/openapi.json`` (the OpenAPI document of every route the app serves) and ``GET /api/v3_0/docs``
(Swagger UI showing that document). Swagger UI's files come from the ``swagger-ui-py`` package and are served
by the gateway itself under ``/api/v3_0/docs/static/``: nothing is fetched from a CDN. Both are public: no token
needed to read the docs."""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from services.gateway.http.openapi import ApiRoute, RouteDoc, build
from services.gateway.http.responses import ok

DOCUMENT_URL = "/api/v3_0/openapi.json"
STATIC_URL = "/api/v3_0/docs/static"
SWAGGER_UI_FILES = Path(str(files("swagger_ui") / "static"))
PAGE_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")


def _document(request: Request[Any]) -> dict[str, Any]:
    return build(request.app.routes)


async def openapi_json(request: Request[Any]) -> Response:
    return ok(_document(request))


def swagger_page(title: str) -> str:
    """Swagger UI's standalone page, loading its files from ``STATIC_URL`` and the document from ``DOCUMENT_URL``."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)}</title>
  <link rel="stylesheet" href="{STATIC_URL}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{STATIC_URL}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{STATIC_URL}/swagger-ui-bundle.js"></script>
  <script src="{STATIC_URL}/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{DOCUMENT_URL}", dom_id: "#swagger-ui", deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"
    }});
  </script>
</body>
</html>
"""


async def docs_page(_: Request[Any]) -> Response:
    return HTMLResponse(swagger_page("FlexStream sensor API"))


ROUTES: list[BaseRoute] = [
    ApiRoute("/api/v3_0/openapi.json", openapi_json, methods=["GET"],
             doc=RouteDoc("This OpenAPI document", tag="docs", public=True, errors=())),
    ApiRoute("/api/v3_0/docs", docs_page, methods=["GET"],
             doc=RouteDoc("Browsable API documentation (Swagger UI)", tag="docs", public=True, errors=())),
    Mount(STATIC_URL, app=StaticFiles(directory=SWAGGER_UI_FILES), name="swagger-ui"),
]  # fmt: skip
