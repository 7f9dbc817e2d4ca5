"""Bounded request bodies (ASGI middleware, docs/operations.md "Limits").

A body announced (``Content-Length``) above the route's limit is answered 413 before any of it is read; a body
without a length (chunked) is counted as it arrives and refused with 413 once it passes the limit. Either way
the answer carries ``Connection: close``, since the rest of the body was never read. Uploads
(``.../data/upload``) have their own, larger limit; every other route the general one.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.http.responses import ApiError, http_error

UPLOAD_SUFFIX = "/data/upload"


def too_large(limit: int) -> ApiError:
    error = http_error(413, f"The request body is larger than this route accepts ({limit} bytes at most).")
    error.headers = {"Connection": "close"}
    return error


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    def limit_for(self, path: str) -> int:
        return self.upload_max_bytes if path.endswith(UPLOAD_SUFFIX) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        announced = _content_length(scope)
        if announced is not None and announced > limit:
            await too_large(limit).response()(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The announced body length; an unreadable one counts as too large (uvicorn refuses most of them anyway)."""
    headers: list[tuple[bytes, Any]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            text = bytes(value).strip()
            return int(text) if text.isdigit() and len(text) < 19 else 2**63
    return None
