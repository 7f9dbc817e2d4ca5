"""Health and Prometheus metrics over HTTP, for the worker services (the gateway serves its own).

``GET /health`` answers 200 ``{"status": "ok", "kafka": "ok", "db": "ok"}`` when every check passes,
503 with the failing parts ``"down"`` otherwise. ``GET /metrics`` is the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


CHECK_TIMEOUT = 4.0  # seconds: a check that has not answered by then counts as down


async def _bounded(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return False


async def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Every check at once, each bounded by ``CHECK_TIMEOUT``; a part that fails is ``"down"``."""
    results = await asyncio.gather(*(_bounded(check) for check in checks.values()))
    parts = {name: "ok" if ok else "down" for name, ok in zip(checks, results, strict=True)}
    healthy = all(results)
    return healthy, {"status": "ok" if healthy else "degraded", **parts}


def metrics_response(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def health_app(service: str, checks: Mapping[str, Check]) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        healthy, body = await run_checks(checks)
        return JSONResponse({"service": service, **body}, status_code=200 if healthy else 503)

    return Starlette(routes=[Route("/health", health), Route("/metrics", metrics_response)])


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service it is embedded in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: Starlette, host: str, port: int, stop: asyncio.Event, graceful_seconds: int = 15) -> None:
    """Serve ``app`` until ``stop`` is set; in-flight requests then get ``graceful_seconds`` to finish."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=graceful_seconds
    )
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    logger.info("http listening", extra={"host": host, "port": port})
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving
    if not stop.is_set():  # uvicorn gave up by itself: port taken, or the app's start-up failed
        stop.set()
        raise RuntimeError(f"HTTP server on {host}:{port} stopped unexpectedly (see the log above)")
