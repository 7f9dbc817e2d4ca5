"""What the gateway's lifespan owns, handed to every request as ``request.state``."""

from __future__ import annotations

from typing import TypedDict

from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from shared.settings import GatewaySettings


class State(TypedDict):
    settings: GatewaySettings
    pool: AsyncConnectionPool
    producer: AIOKafkaProducer
