"""``python -m services.gateway``: serve the gateway. SIGTERM/SIGINT let in-flight requests finish, then exit 0."""

import asyncio
import signal

from services.gateway.app import create_app
from shared import health
from shared.logging import configure
from shared.settings import GatewaySettings


async def main(settings: GatewaySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await health.serve(create_app(settings), settings.host, settings.port, stop)


settings = GatewaySettings()
configure(settings.log_level, settings.log_json)
asyncio.run(main(settings))
