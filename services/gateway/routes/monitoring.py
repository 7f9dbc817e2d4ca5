"""``GET /health`` (broker and database readiness) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.gateway.state import State
from shared import db, health, kafka


async def health_check(request: Request[State]) -> JSONResponse:
    state = request.state
    checks = {"kafka": lambda: kafka.ping(state["settings"]), "db": lambda: db.ping(state["pool"])}
    healthy, body = await health.run_checks(checks)
    return JSONResponse({"service": "gateway", **body}, status_code=200 if healthy else 503)


ROUTES = [Route("/health", health_check, methods=["GET"]), Route("/metrics", health.metrics_response, methods=["GET"])]
