"""HTTP routes, one module per subject; ``ROUTES`` is what the app mounts.

Order matters: Starlette takes the first match, so literal paths (``/api/v3_0/sensors/data``) must come
before the ``/api/v3_0/sensors/{id}`` pattern of ``sensors.ROUTES``. The data routes, the busiest by far, come
first: Starlette tries the routes one after the other, and no other route's path can match theirs. Routes that are
``openapi.ApiRoute``s appear in the OpenAPI document with their metadata (every other route is listed with its
docstring).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.gateway.routes import (
    accounts,
    assets,
    auth_tokens,
    data,
    docs,
    monitoring,
    schedules,
    sensors,
    service,
    stats,
    users,
)

ROUTES: list[BaseRoute] = [
    *data.ROUTES,
    *monitoring.ROUTES,
    *service.ROUTES,
    *auth_tokens.ROUTES,
    *docs.ROUTES,
    *accounts.ROUTES,
    *users.ROUTES,
    *assets.ROUTES,
    *stats.ROUTES,
    *schedules.ROUTES,
    *sensors.ROUTES,
]
