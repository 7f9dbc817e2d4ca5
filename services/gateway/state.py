"""What the gateway's lifespan owns, handed to every request as ``request.state``.

Handlers take ``request: Request[State]`` and read ``request.state["pool"]`` and so on, so every access is typed.
The per-process caches live here too (``cachetools``); each says how stale an entry may be (a TTL of zero turns
the cache off).
"""

from __future__ import annotations

from typing import TypedDict

from aiokafka import AIOKafkaProducer
from cachetools import LRUCache, TTLCache
from psycopg_pool import AsyncConnectionPool

from services.gateway.rules.login_throttle import LoginThrottle
from services.gateway.rules.permissions import Principal
from services.gateway.single_flight import SingleFlight
from services.gateway.sql.sensors import SensorRow
from services.gateway.workers.data_offsets import DataOffsets
from services.gateway.workers.job_ends import JobEnds
from services.gateway.workers.write_waiter import Waiter
from shared.settings import GatewaySettings

CACHE_ENTRIES = 10_000  # per cache; the least recently used entry goes first
GENERAL_PLAN_SENSORS = 4096


class State(TypedDict):
    settings: GatewaySettings
    pool: AsyncConnectionPool
    producer: AIOKafkaProducer
    waiter: Waiter  # read-your-writes: completes when ingest reports on a command
    data_offsets: DataOffsets  # the sensor-data topic's end offsets, recorded by schedule triggers
    job_ends: JobEnds  # scheduling jobs that end, announced by PostgreSQL: a schedule GET waits for its job
    timescale: bool  # TimescaleDB present (time_bucket) or plain PostgreSQL (date_bin), checked once
    principals: TTLCache[bytes, Principal]  # token hash → principal, verified within auth_cache_ttl
    sensors: TTLCache[int, SensorRow]  # for the data routes, within sensor_cache_ttl; evicted on sensor events
    sensor_loads: SingleFlight[int, SensorRow | None]  # concurrent misses of one sensor share one query
    user_sources: LRUCache[int, int]  # user id → that user's data source id (never changes once created)
    general_plan_sensors: LRUCache[int, bool]  # sensors whose reads need the general SQL plan (sql/beliefs.py)
    login_throttles: tuple[LoginThrottle, LoginThrottle]  # failed logins per e-mail, per client address
