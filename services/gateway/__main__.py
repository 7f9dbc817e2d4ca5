"""``python -m services.gateway``: serve the gateway. SIGTERM/SIGINT let in-flight requests finish, then exit 0."""

import asyncio

from services.gateway.app import create_app
from shared import health
from shared.service import run_until_signal
from shared.settings import GatewaySettings


async def serve(settings: GatewaySettings, stop: asyncio.Event) -> None:
    await health.serve(create_app(settings), settings.host, settings.port, stop)


run_until_signal("gateway", serve, GatewaySettings())
