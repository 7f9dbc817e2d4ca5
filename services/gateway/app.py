"""The gateway's Starlette app: ``create_app(settings)`` and the lifespan that owns its connections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cachetools import LRUCache, TTLCache
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.failures import FailureMiddleware
from services.gateway.http.limits import BodyLimitMiddleware
from services.gateway.http.metrics import MetricsMiddleware
from services.gateway.http.responses import ApiError, http_error
from services.gateway.http.server_version import VersionHeaderMiddleware
from services.gateway.routes import ROUTES
from services.gateway.rules.login_throttle import LoginThrottle
from services.gateway.rules.permissions import Principal
from services.gateway.single_flight import SingleFlight
from services.gateway.sql import beliefs
from services.gateway.sql.sensors import SensorRow
from services.gateway.state import CACHE_ENTRIES, GENERAL_PLAN_SENSORS, State
from services.gateway.workers import outbox_relay, pruner
from services.gateway.workers.data_offsets import open_data_offsets
from services.gateway.workers.job_ends import JobEnds
from services.gateway.workers.listener import open_listener
from services.gateway.workers.sensor_cache_evictor import evicting_changed_sensors
from services.gateway.workers.write_waiter import open_waiter
from shared import db, kafka, units
from shared.service import freeze_startup_objects
from shared.settings import GatewaySettings

logger = logging.getLogger(__name__)


async def api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error(exc.status_code, exc.detail).response()


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return http_error(500, "FlexStream hit an internal error; it has been logged.").response()


def create_app(settings: GatewaySettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        await kafka.ensure_topics(settings)
        sensors = TTLCache[int, SensorRow](CACHE_ENTRIES, settings.sensor_cache_ttl.total_seconds())
        await asyncio.to_thread(units.registry)  # the unit registry takes seconds to build: not in the first request
        job_ends = JobEnds()
        async with (
            db.open_pool(settings, name="gateway", timeout=settings.db_timeout) as pool,
            kafka.open_producer(settings) as producer,
            open_waiter(pool) as waiter,
            evicting_changed_sensors(settings, sensors),
            open_data_offsets(settings, producer) as data_offsets,
            open_listener(settings, [job_ends, waiter]),
        ):
            async with pool.connection() as conn:
                timescale = await beliefs.has_timescale(conn)
            window = settings.login_failure_window.total_seconds()
            stop_relay = asyncio.Event()
            relay = asyncio.create_task(outbox_relay.run(pool, producer, settings.outbox_interval, stop_relay))
            pruning = asyncio.create_task(
                pruner.run(pool, settings.command_retention, settings.prune_interval, stop_relay)
            )
            frozen = freeze_startup_objects()
            logger.info("gateway ready", extra={"host": settings.host, "port": settings.port, "frozen": frozen})
            try:
                yield State(
                    settings=settings,
                    pool=pool,
                    producer=producer,
                    waiter=waiter,
                    data_offsets=data_offsets,
                    job_ends=job_ends,
                    timescale=timescale,
                    principals=TTLCache[bytes, Principal](CACHE_ENTRIES, settings.auth_cache_ttl.total_seconds()),
                    sensors=sensors,
                    sensor_loads=SingleFlight[int, SensorRow | None](),
                    user_sources=LRUCache[int, int](CACHE_ENTRIES),
                    general_plan_sensors=LRUCache[int, bool](GENERAL_PLAN_SENSORS),
                    login_throttles=(
                        LoginThrottle(settings.login_failures_per_email, window),
                        LoginThrottle(settings.login_failures_per_address, window),
                    ),
                )
            finally:
                stop_relay.set()
                await relay
                await pruning

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_exception, Exception: server_error},
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(VersionHeaderMiddleware),
            Middleware(FailureMiddleware, retry_after=settings.retry_after),
            Middleware(
                BodyLimitMiddleware, max_bytes=settings.max_body_bytes, upload_max_bytes=settings.upload_max_bytes
            ),
        ],
    )
    app.router.redirect_slashes = False  # as FlexMeasures: "/api/v3_0/sensors/" is a 404, not a redirect
    return app
