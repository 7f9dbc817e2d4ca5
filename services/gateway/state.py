"""What the gateway's lifespan owns, handed to every request as ``request.state``."""

from __future__ import annotations

from typing import TypedDict

from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from services.gateway.cache import TtlCache
from services.gateway.rules.permissions import Principal
from services.gateway.sql.sensors import SensorRow
from services.gateway.workers.write_waiter import Waiter
from shared.settings import GatewaySettings


class State(TypedDict):
    settings: GatewaySettings
    pool: AsyncConnectionPool
    producer: AIOKafkaProducer
    waiter: Waiter  # read-your-writes: completes when ingest reports on a command
    timescale: bool  # TimescaleDB present (time_bucket) or plain PostgreSQL (date_bin), checked once
    principals: TtlCache[bytes, Principal]  # token hash → principal, verified within auth_cache_ttl
    sensors: TtlCache[int, SensorRow]  # for the data routes, loaded within sensor_cache_ttl
    user_sources: dict[int, int]  # user id → that user's data source id (never changes once created)
