"""``python -m services.gateway``: serve the gateway with uvicorn (SIGTERM finishes in-flight requests)."""

import uvicorn

from shared.settings import GatewaySettings

settings = GatewaySettings()
uvicorn.run(
    "services.gateway.app:app_from_env",
    factory=True,
    host=settings.host,
    port=settings.port,
    log_config=None,
    access_log=False,
    timeout_graceful_shutdown=15,
)
