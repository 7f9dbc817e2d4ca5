"""Reading request input the way FlexMeasures does (docs/api.md, "Conventions"): JSON only for ``application/json``,
a broken JSON body is a 400, query strings as plain dicts, integer path ids."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from services.gateway.http.responses import bad_json, http_error, unprocessable

MAX_JSON_DEPTH = 32  # nesting of arrays and objects in a JSON body (flex-models need a few levels)


def is_json(request: Request[Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def json_object(request: Request[Any]) -> dict[str, Any]:
    """The JSON object body; ``{}`` when the request is not JSON (so required fields read as missing)."""
    if not is_json(request):
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    body = loads(raw)
    if not isinstance(body, dict):
        raise unprocessable("json", "_schema", "Invalid input type.")
    return body


def loads(raw: bytes) -> Any:
    """Strict JSON (RFC 8259): no ``NaN``/``Infinity``, at most ``MAX_JSON_DEPTH`` levels; else 400. Bytes are read
    in the encoding they are in (UTF-8, -16 or -32), as ``json.loads`` reads them."""
    try:
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise too_deep() from None
    except ValueError:
        raise bad_json() from None
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and depth(value) > MAX_JSON_DEPTH:
        raise too_deep()
    return value


def too_deep() -> Exception:
    return http_error(400, f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # one for all requests (json.loads makes one per call)


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def query(request: Request[Any]) -> dict[str, str]:
    """The query string (last value of a repeated parameter wins); unknown parameters are the model's business."""
    return dict(request.query_params)


def path_int(request: Request[Any], name: str = "id") -> int:
    """An integer path segment, or E1 at location ``path`` (FlexMeasures answers 500 for a non-numeric id)."""
    raw = str(request.path_params[name])
    if not raw.isascii() or not raw.isdigit():
        raise unprocessable("path", name, "Not a valid integer.")
    return int(raw)
