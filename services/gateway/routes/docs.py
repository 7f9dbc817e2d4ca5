"""``GET /api/v3_0/openapi.json`` (the OpenAPI document of every route the app serves) and ``GET /api/v3_0/docs``
(a self-contained HTML page listing them; no CDN needed). Both are public: no token needed to read the docs."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from services.gateway.http.openapi import ApiRoute, RouteDoc, build
from services.gateway.http.responses import ok


def _document(request: Request) -> dict[str, Any]:
    return build(request.app.routes)


async def openapi_json(request: Request) -> Response:
    return ok(_document(request))


def _schema_text(schema: Any) -> str:
    return html.escape(json.dumps(schema, indent=2, sort_keys=True))


def render_page(document: dict[str, Any]) -> str:
    """The document as one HTML page: per operation its method, path, summary, parameters, body and answers."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(document['info']['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}code,pre{background:#f4f4f4}"
        "section{border-top:1px solid #ccc;padding:.5em 0}.m{font-weight:bold;text-transform:uppercase}"
        "details pre{max-height:30em;overflow:auto}</style></head><body>",
        f"<h1>{html.escape(document['info']['title'])} <small>v{html.escape(document['info']['version'])}</small></h1>",
        f"<p>{html.escape(document['info']['description'])}</p>",
        "<p>Machine-readable: <a href='openapi.json'>openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            parts.append(f"<section id='{html.escape(op['operationId'])}'>")
            parts.append(f"<h3><span class='m'>{method}</span> <code>{html.escape(path)}</code></h3>")
            parts.append(f"<p>{html.escape(op.get('summary', ''))}")
            parts.append(" <em>(public)</em>" if op.get("security") == [] else "")
            parts.append(f"</p><p>{html.escape(op.get('description', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                        f"<td>{'yes' if p.get('required') else 'no'}</td>"
                        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                parts.append(f"<details><summary>JSON body</summary><pre>{_schema_text(schema)}</pre></details>")
            answers = ", ".join(f"{code} {html.escape(r['description'])}" for code, r in op["responses"].items())
            parts.append(f"<p>Answers: {answers}</p></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<details id='{html.escape(name)}'><summary>{html.escape(name)}</summary>")
        parts.append(f"<pre>{_schema_text(schema)}</pre></details>")
    parts.append("</body></html>")
    return "".join(parts)


async def docs_page(request: Request) -> Response:
    return HTMLResponse(render_page(_document(request)))


ROUTES = [
    ApiRoute("/api/v3_0/openapi.json", openapi_json, methods=["GET"],
             doc=RouteDoc("This OpenAPI document", tag="docs", public=True, errors=())),
    ApiRoute("/api/v3_0/docs", docs_page, methods=["GET"],
             doc=RouteDoc("Browsable API documentation (HTML)", tag="docs", public=True, errors=())),
]  # fmt: skip
