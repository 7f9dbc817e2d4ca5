"""Reading request input the way FlexMeasures does (docs/api.md, "Conventions"): JSON only for ``application/json``,
a broken JSON body is a 400, query strings as plain dicts, integer path ids."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from services.gateway.http.responses import bad_json, unprocessable


def is_json(request: Request[Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def json_object(request: Request[Any]) -> dict[str, Any]:
    """The JSON object body; ``{}`` when the request is not JSON (so required fields read as missing)."""
    if not is_json(request):
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_json() from None
    if not isinstance(body, dict):
        raise unprocessable("json", "_schema", "Invalid input type.")
    return body


def query(request: Request[Any]) -> dict[str, str]:
    """The query string (last value of a repeated parameter wins); unknown parameters are the model's business."""
    return dict(request.query_params)


def path_int(request: Request[Any], name: str = "id") -> int:
    """An integer path segment, or E1 at location ``path`` (FlexMeasures answers 500 for a non-numeric id)."""
    raw = str(request.path_params[name])
    if not raw.isascii() or not raw.isdigit():
        raise unprocessable("path", name, "Not a valid integer.")
    return int(raw)
