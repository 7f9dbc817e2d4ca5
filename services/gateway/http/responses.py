"""FlexMeasures-shaped JSON answers (docs/api.md, "Conventions").

Bodies are pretty-printed with sorted keys and ASCII escapes, as the reference does. Errors are raised
as ``ApiError`` anywhere in the gateway and rendered by the exception handler in ``app.py``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response


class FlexJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


_VALUES_MARKER = '[\n    "\\u0000"\n  ]'  # how a one-item list ["\x00"] under a top-level key is indented


def dumps(content: Any) -> str:
    """Pretty-printed JSON as the reference writes it. A long top-level ``values`` list of numbers (a data
    GET) is encoded by the C encoder and then indented, which gives the same text faster."""
    values = content.get("values") if type(content) is dict else None
    if type(values) is list and len(values) > 1 and all(v is None or type(v) is float for v in values):
        flat = json.dumps(values, allow_nan=False)  # "[1.0, null, ...]": numbers never contain ", "
        text = _dumps({**content, "values": ["\x00"]})
        if text.count(_VALUES_MARKER) == 1:
            return text.replace(_VALUES_MARKER, "[\n    " + flat[1:-1].replace(", ", ",\n    ") + "\n  ]")
    return _dumps(content)


def _dumps(content: Any) -> str:
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False)


def ok(body: Any, status_code: int = 200, *, with_status: bool = False) -> Response:
    """A success answer; ``with_status`` adds the numeric ``status`` key to an object that
    has none, as FlexMeasures does."""
    if with_status and isinstance(body, dict) and "status" not in body:
        body = {**body, "status": status_code}
    return FlexJSONResponse(body, status_code=status_code)


def no_content() -> Response:
    """204 with an empty body, still typed ``application/json`` as FlexMeasures answers it (clients parse every
    answer as JSON; an empty JSON answer reads as null)."""
    return Response(status_code=204, media_type="application/json")


class ApiError(Exception):
    """An answer other than success. ``body`` is sent as it is, with ``status_code``."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status_code = status_code
        self.body = body
        self.headers = headers

    def response(self) -> Response:
        return FlexJSONResponse(self.body, status_code=self.status_code, headers=self.headers)


def unprocessable(location: str, field: str, *messages: str) -> ApiError:
    """E1: a validation failure of one field (use field ``_schema`` for the whole object)."""
    return validation_error({location: {field: list(messages)}})


def validation_error(message: dict[str, Any] | list[str]) -> ApiError:
    return ApiError(422, {"message": message, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"})


def unauthenticated() -> ApiError:
    """E2."""
    return ApiError(
        401,
        {
            "message": "You could not be properly authenticated for this content or functionality.",
            "status": "UNAUTHORIZED",
        },
    )


def forbidden() -> ApiError:
    """E3."""
    return ApiError(
        403,
        {
            "message": "You cannot be authorized for this content or functionality.",
            "result": "Rejected",
            "status": "INVALID_SENDER",
        },
    )


def http_error(status_code: int, message: str) -> ApiError:
    """E4: framework-style errors (404 from lookups, 405, out-of-range page, ...)."""
    return ApiError(status_code, {"message": message, "status": status_code})


def page_not_found() -> ApiError:
    """E4 404 for a page past the last one of a paginated list (the framework's text)."""
    return http_error(
        404,
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling "
        "and try again.",
    )


def bad_json() -> ApiError:
    return http_error(400, "The browser (or proxy) sent a request that this server could not understand.")


PROCESSED_MESSAGE = "Request has been processed."


def rendered(body: Any) -> bytes:
    """``body`` as ``ok`` sends it: for an answer that never changes, rendered once (``constant``)."""
    return dumps(body).encode()


def constant(body: bytes) -> Response:
    """A 200 answer rendered beforehand (the same headers as ``ok``'s): pretty-printing is most of the cost of a
    small answer, and the answers to data writes are always the same few texts."""
    return Response(body, media_type=FlexJSONResponse.media_type)


_PROCESSED = rendered({"status": "PROCESSED", "message": PROCESSED_MESSAGE})
_ALREADY_RECEIVED = rendered(
    {
        "results": "PROCESSED",
        "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED",
        "message": "Some of the data has already been received and successfully processed.",
    }
)


def processed(detail: str | None = None, **extra: Any) -> Response:
    if detail is None and not extra:
        return constant(_PROCESSED)
    message = PROCESSED_MESSAGE + (f" {detail}" if detail else "")
    return ok({"status": "PROCESSED", "message": message, **extra})


def already_received() -> Response:
    return constant(_ALREADY_RECEIVED)


def invalid_replacement() -> ApiError:
    return ApiError(
        403,
        {
            "results": "Rejected",
            "status": "INVALID_REPLACEMENT",
            "message": "Some of the data represents a replacement, which is reserved for customized servers. If you "
            "are hosting FlexMeasures, you can enable replacements by setting FLEXMEASURES_ALLOW_DATA_OVERWRITE=True "
            "in the configuration settings. Alternatively, update the prior in your request.",
        },
    )
