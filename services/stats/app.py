"""The stats service: a faust-streaming app over ``flexstream.ingested.v1``.

Not built yet: maintaining the per-sensor, per-source aggregates in ``sensor_stats`` (and recomputing a
bucket when beliefs are replaced or deleted) is the subject of a later issue. For now the agent decodes
each ``BeliefsIngested`` event with the shared model and logs it, so the faust app, its consumer group,
health page and metrics are real. The topic carries raw bytes: no faust.Record copies of our models.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import ValidationError

from shared import db
from shared.settings import StatsSettings
from shared.topics import INGESTED

logger = logging.getLogger(__name__)

EVENTS = Counter("flexstream_stats_ingested_events_total", "BeliefsIngested events received", ["valid"])


def create_app(settings: StatsSettings, **overrides: Any) -> faust.App:
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "store": "memory://",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": 1,
        "web_host": settings.health_host,
        "web_port": settings.health_port,
        "datadir": settings.stats_data_dir,
        "consumer_auto_offset_reset": "earliest",
    }
    options.update(overrides)
    app = faust.App(f"{settings.topic_prefix}{settings.stats_app_id}", **options)  # app id = consumer group
    ingested = app.topic(INGESTED.full_name(settings.topic_prefix), value_type=bytes, key_type=bytes)

    @app.agent(ingested)
    async def record_ingested(stream: Any) -> Any:
        async for value in stream:
            try:
                event = INGESTED.decode(value)
            except ValidationError as exc:
                EVENTS.labels("false").inc()
                logger.warning("invalid ingested event: %s", exc.errors()[:3])
                continue
            EVENTS.labels("true").inc()
            logger.info(
                "ingested event received (aggregation not implemented yet)",
                extra={"command_id": str(event.command_id), "sensor_id": event.sensor_id, "outcome": event.outcome},
            )
            yield event

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        kafka_ok = app.consumer is not None and bool(app.consumer.assignment())
        db_ok = await db.reachable(db.database_url(settings))
        body = {"service": "stats", "status": "ok" if kafka_ok and db_ok else "degraded",
                "kafka": "ok" if kafka_ok else "unavailable", "db": "ok" if db_ok else "unavailable"}  # fmt: skip
        return web.json(body, status=200 if kafka_ok and db_ok else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; Prometheus reads the text format either way.
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split("; charset")[0])

    return app
