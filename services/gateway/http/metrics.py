"""Prometheus metrics of the gateway's HTTP traffic, recorded by a small ASGI middleware.

``flexstream_gateway_requests_total{method, route, status}`` and ``flexstream_gateway_request_seconds{method,
route}``. ``route`` is the route's path template (``/api/v3_0/sensors/{id}/data``), never the raw path, so the
label set stays small; unmatched paths count as ``unmatched``.
"""

from __future__ import annotations

import time
from functools import lru_cache

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("flexstream_gateway_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "flexstream_gateway_request_seconds",
    "Time to answer an HTTP request (writes include the wait for ingest)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
SENSOR_LOOKUPS = Counter(
    "flexstream_gateway_sensor_lookups_total",
    "Sensors read from the database by the data routes (cache misses; concurrent misses of one sensor share a read)",
)


# The series of a label set, looked up once (prometheus_client's ``labels`` validates and locks on every call). The
# caches are bounded: a label set they let go of is looked up again.
@lru_cache(maxsize=1024)
def _requests(method: str, route: str, status: str) -> Counter:
    return REQUESTS.labels(method, route, status)


@lru_cache(maxsize=1024)
def _latency(method: str, route: str) -> Histogram:
    return LATENCY.labels(method, route)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            _requests(scope["method"], route, str(status)).inc()
            _latency(scope["method"], route).observe(time.perf_counter() - started)
