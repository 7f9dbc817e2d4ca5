"""What a route did not answer itself (ASGI middleware): an unreachable database or broker is a 503 with
``Retry-After``; input the database refuses as data (``psycopg.DataError``) a 422; anything else is logged and
answered 500. Neither is re-raised to the server, so the client's
keep-alive connection stays usable (docs/operations.md, "Outages")."""

from __future__ import annotations

import logging

import psycopg
from aiokafka.errors import KafkaError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.http.responses import ApiError, http_error, validation_error

logger = logging.getLogger(__name__)

DATABASE_DOWN = "The database is unavailable; please try again shortly."
UNSTORABLE_INPUT = "The input holds a value that cannot be stored (e.g. a NUL character or a number out of range)."
BROKER_DOWN = "The message broker is unavailable; please try again shortly."


def unavailable(message: str, retry_after: int) -> ApiError:
    """503 (E4 shape) with ``Retry-After`` in seconds."""
    error = http_error(503, message)
    error.headers = {"Retry-After": str(retry_after)}
    return error


def answer_for(exc: Exception, retry_after: int) -> Response:
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, psycopg.OperationalError):  # connection lost or refused, pool timeout (PoolTimeout)
        logger.warning("database unavailable: %s", exc)
        return unavailable(DATABASE_DOWN, retry_after).response()
    if isinstance(exc, psycopg.DataError):  # input the checks missed and PostgreSQL refuses (e.g. NUL in jsonb)
        logger.warning("input refused by the database: %s", exc)
        return validation_error({"json": {"_schema": [UNSTORABLE_INPUT]}}).response()
    if isinstance(exc, KafkaError):
        logger.warning("broker unavailable: %s", exc)
        return unavailable(BROKER_DOWN, retry_after).response()
    logger.error("unhandled error", exc_info=exc)
    return http_error(500, "FlexStream hit an internal error; it has been logged.").response()


class FailureMiddleware:
    def __init__(self, app: ASGIApp, *, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:  # too late for an answer of our own: the server closes the connection
                raise
            await answer_for(exc, self.retry_after)(scope, receive, send)
