"""Settings read from ``FLEXSTREAM_*`` environment variables, once, in each service's ``main()``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_COMMAND_RETENTION = timedelta(days=8)  # the local broker keeps records 7 days (log.retention.hours=168)


class Settings(BaseSettings):
    """What every service needs: where the broker and the database are, and how to log."""

    model_config = SettingsConfigDict(env_prefix="FLEXSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    # How to reach the broker (docs/operations.md, "Kafka and PostgreSQL security"). PLAINTEXT: no authentication.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = ""  # CA bundle to verify the broker (default: the system's)
    kafka_ssl_certfile: str = ""  # client certificate and key, for brokers that want mutual TLS
    kafka_ssl_keyfile: str = ""
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:55432/flexstream")
    # TLS to PostgreSQL (libpq's sslmode, sslrootcert, sslcert, sslkey); empty: what the URL says
    database_sslmode: Literal["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = ""
    database_sslrootcert: str = ""
    database_sslcert: str = ""
    database_sslkey: str = ""
    topic_partitions: int = 4
    topic_prefix: str = ""  # tests use a prefix so each run has its own topics
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_min: int = 1
    db_pool_max: int = 10

    @field_validator("topic_partitions")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @property
    def kafka_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")


class GatewaySettings(Settings):
    host: str = "127.0.0.1"
    port: int = 8000
    token_max_age: timedelta = timedelta(hours=6)  # FlexMeasures' SECURITY_TOKEN_MAX_AGE
    auth_cache_ttl: timedelta = timedelta(seconds=5)  # how long a verified token is trusted without a query
    # How long the data routes reuse a loaded sensor when no sensor event evicts it first (docs/api.md, "Sensor events")
    sensor_cache_ttl: timedelta = timedelta(seconds=60)
    write_wait: timedelta = timedelta(seconds=10)  # read-your-writes wait before answering 202
    allow_data_overwrite: bool = False  # FLEXMEASURES_ALLOW_DATA_OVERWRITE
    server_timezone: str = "UTC"  # FLEXMEASURES_TIMEZONE: how the status route writes staleness_since
    hosts_and_auth_start: dict[str, str] = {"flexmeasures.io": "2021-01"}
    outbox_interval: timedelta = timedelta(seconds=1)
    db_pool_max: int = 20
    planning_horizon: timedelta = timedelta(hours=48)  # FLEXMEASURES_PLANNING_HORIZON: default duration, GET cap
    max_planning_horizon_steps: int | None = 2520  # FLEXMEASURES_MAX_PLANNING_HORIZON, in steps of the sensor
    job_cache_ttl: timedelta = timedelta(hours=1)  # FLEXMEASURES_JOB_CACHE_TTL: identical triggers, same job
    planning_ttl: timedelta = timedelta(days=7)  # FLEXMEASURES_PLANNING_TTL: how long a job can be read
    fallback_redirect: bool = False  # FLEXMEASURES_FALLBACK_REDIRECT: 303 to the fallback job instead of its result
    # A schedule GET whose job has not ended waits up to this long for its end before answering "waiting" or "in
    # progress" (docs/api.md, "GET /api/v3_0/sensors/<id>/schedules/<uuid>"); zero answers at once, as FlexMeasures.
    schedule_read_wait: timedelta = Field(default=timedelta(seconds=2), ge=timedelta(0))
    # Limits (docs/operations.md, "Limits"): request bodies, answered 413 before they are read.
    max_body_bytes: int = 3_250_585  # 3.1 MiB, FlexMeasures' FLEXMEASURES_MAX_SENSOR_DATA_INGESTION_BYTES
    upload_max_bytes: int = 50 * 1024 * 1024  # a whole CSV upload request
    upload_file_max_bytes: int = 20 * 1024 * 1024  # one uploaded file
    # Outages (docs/operations.md, "Outages"): how long a request waits for the database or the broker before
    # it answers 503, and the Retry-After it suggests.
    db_timeout: float = 1.0  # seconds to get a pooled connection (and to open a new one)
    broker_timeout: float = 1.0  # seconds for the broker to acknowledge a data command
    retry_after: int = 5
    # requestAuthToken (docs/operations.md, "Limits"): failed logins allowed per e-mail and per client address
    # within the window, then 429 until the oldest failure leaves it.
    login_failures_per_email: int = 10
    login_failures_per_address: int = 50
    login_failure_window: timedelta = timedelta(minutes=1)
    # Pruning (docs/operations.md, "Database"): ingested_commands and published outbox rows older than this go.
    # It must exceed the topics' retention (the local broker keeps 7 days), so a replay still finds its record.
    command_retention: timedelta = timedelta(days=14)
    prune_interval: timedelta = timedelta(hours=1)

    @field_validator("command_retention")
    @classmethod
    def _longer_than_topics(cls, value: timedelta) -> timedelta:
        if value < MIN_COMMAND_RETENTION:
            raise ValueError(f"must be at least {MIN_COMMAND_RETENTION.days} days (longer than the topics' retention)")
        return value

    @field_validator("server_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value


class WorkerSettings(Settings):
    """Shared by ingest, scheduler and stats: the small HTTP port for /health and /metrics."""

    health_host: str = "127.0.0.1"
    health_port: int = 0  # 0 = pick a free port (logged at start)


class IngestSettings(WorkerSettings):
    ingest_group: str = "flexstream-ingest"
    ingest_batch_max: int = 2000  # Kafka records per poll / DB transaction
    ingest_batch_bytes: int = 32 * 1024 * 1024  # and at most this many bytes of record values (or one record)
    # Write loops of one process, sharing its consumer (docs/architecture.md, "Ingest"): one writes while the next
    # batch gathers; a second takes part of a backlog of at least ingest_split_records records.
    ingest_lanes: int = Field(default=2, ge=1, le=16)
    ingest_split_records: int = Field(default=200, ge=1)
    # A fetch returns as soon as this much data is there (one record: no timer on an idle write), or after
    # ingest_fetch_wait_ms with nothing. Batches grow by themselves: ingest keeps reading while a transaction
    # runs and writes everything that arrived meanwhile in the next one.
    ingest_fetch_min_bytes: int = 1
    ingest_fetch_wait_ms: int = 500
    # Ready offsets (stored, events sent) are committed to Kafka this often, and before a rebalance takes their
    # partitions; what is stored is in PostgreSQL at once (ingest_progress), so this only bounds what a restart replays.
    ingest_commit_interval_ms: int = Field(default=1000, ge=1)
    ingest_max_values: int = 1_000_000  # values per command; more goes to the DLQ
    allow_data_overwrite: bool = False  # as the gateway's: may a device topic's command set ``replace``?
    # How often the device-topic subscription looks for topics of new accounts.
    ingest_topic_refresh_ms: int = 5000
    health_port: int = 8001


class SchedulerSettings(WorkerSettings):
    scheduler_group: str = "flexstream-scheduler"
    health_port: int = 8002
    scheduler_time_limit: timedelta = timedelta(seconds=30)  # per solve; then the best schedule found, or failure
    scheduler_ingest_wait: timedelta = timedelta(seconds=60)  # how long a job waits for ingest to catch up
    job_ttl: timedelta = timedelta(days=1)  # FLEXMEASURES_JOB_TTL: a job queued longer than this fails unrun
    ingest_group: str = "flexstream-ingest"  # whose committed offsets say which sensor data is stored
    planning_horizon: timedelta = timedelta(hours=48)
    max_planning_horizon_steps: int | None = 2520


class StatsSettings(WorkerSettings):
    stats_app_id: str = "flexstream-stats"
    stats_data_dir: str = "/tmp/flexstream-stats"
    stats_batch_max: int = 500  # events per transaction of aggregate updates
    stats_batch_wait: float = 0.05  # seconds to wait for a batch to fill
    stats_lag_interval: float = 2.0  # seconds between two measurements of the lag gauge
    health_port: int = 8003
