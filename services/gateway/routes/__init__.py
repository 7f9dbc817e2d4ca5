"""HTTP routes, one module per subject; ``ROUTES`` is what the app mounts."""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.gateway.routes import auth, health

ROUTES: list[BaseRoute] = [*health.ROUTES, *auth.ROUTES]
