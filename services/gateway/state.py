"""What the gateway's lifespan owns, handed to every request as ``request.state``."""

from __future__ import annotations

from typing import TypedDict

from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from services.gateway.auth import PrincipalCache
from services.gateway.waiter import Waiter
from shared.settings import GatewaySettings


class State(TypedDict):
    settings: GatewaySettings
    pool: AsyncConnectionPool
    producer: AIOKafkaProducer
    waiter: Waiter  # read-your-writes: completes when ingest reports on a command
    timescale: bool  # TimescaleDB present (time_bucket) or plain PostgreSQL (date_bin), checked once
    principals: PrincipalCache  # recently verified tokens
    user_sources: dict[int, int]  # user id → that user's data source id (never changes once created)
