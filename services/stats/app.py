"""The stats service: a faust-streaming app over ``flexstream.ingested.v1`` that keeps the per-sensor,
per-source aggregates of the stats route in ``sensor_stats_daily`` (one row per UTC day) and
``sensor_stats`` (all time), recomputed from ``timed_beliefs`` for the days each event touched
(``agents.py``). The topic carries raw bytes decoded with the shared models: no faust.Record copies.
Faust's exactly-once mode is not used; the sink is idempotent instead.
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.stats import agents, lag
from shared import db, kafka
from shared.settings import StatsSettings
from shared.topics import INGESTED


def health_body(kafka_lag: int | None, db_ok: bool) -> tuple[dict[str, Any], int]:
    """``/health``: 200 when the broker and the database answer, 503 (naming what is down) otherwise."""
    healthy = kafka_lag is not None and db_ok
    body = {
        "service": "stats", "status": "ok" if healthy else "degraded",
        "kafka": "ok" if kafka_lag is not None else "down", "db": "ok" if db_ok else "down", "lag": kafka_lag,
    }  # fmt: skip
    return body, 200 if healthy else 503


def broker_credentials(settings: StatsSettings) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the settings' Kafka TLS and SASL options (None for a plain broker)."""
    ssl_context = kafka.connection_options(settings).get("ssl_context")
    if settings.kafka_sasl:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def create_app(settings: StatsSettings, **overrides: Any) -> faust.App:
    group = f"{settings.topic_prefix}{settings.stats_app_id}"  # the app id is the consumer group
    topic_name = INGESTED.full_name(settings.topic_prefix)
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
        "broker_commit_interval": 1.0,  # seconds; the lag counts from the committed offsets
        # A killed worker's partitions go to its replacement after this many seconds (faust's default: 60).
        "broker_session_timeout": 10.0,
    }
    credentials = broker_credentials(settings)
    if credentials is not None:
        options["broker_credentials"] = credentials
    options.update(overrides)
    app = faust.App(group, **options)
    ingested = app.topic(topic_name, value_type=bytes, key_type=bytes)
    agents.register(app, ingested, settings)

    @app.timer(interval=settings.stats_lag_interval)  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        await lag.probe(settings, topic_name, group)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        body, status = health_body(
            await lag.probe(settings, topic_name, group), await db.reachable(db.database_url(settings))
        )
        return web.json(body, status=status)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; Prometheus reads the text format either way.
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split("; charset")[0])

    return app
