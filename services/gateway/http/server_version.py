"""Which FlexMeasures release FlexStream tells clients it is, and the header that tells them on every answer.

Clients pick routes by the server's version: flexmeasures-client 0.9.6 triggers a schedule for one sensor
through ``POST /assets/<id>/schedules/trigger`` from 0.27.0 on, waits on ``GET /jobs/<uuid>`` from 0.33.0 on,
sends a ``unit`` with file uploads from 0.30.0 on and asks for schedules in a unit from 0.32.0 on. So the
reported version is the newest release whose client-visible routes FlexStream really serves; docs/api.md
("Service listing") says why it is the one below. ``CLIENT_SWITCHES`` lists the routes each such step makes a
client call; the unit tests keep the reported version and the mounted routes consistent with it.

FlexMeasures 0.27 only reports its version in ``GET /api/``; later releases also send a ``FlexMeasures-Version``
header, which the client reads from any answer. FlexStream sends it on every answer, so a client knows which
routes to use before its first schedule call.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLEXMEASURES_VERSION = "0.27.4"
API_VERSIONS = ("v3_0",)
VERSION_HEADER = "FlexMeasures-Version"

# release -> (method, path) the client calls only on servers of that release or newer
CLIENT_SWITCHES: dict[str, tuple[tuple[str, str], ...]] = {
    "0.27.0": (("POST", "/api/v3_0/assets/{id}/schedules/trigger"),),
    "0.33.0": (("GET", "/api/v3_0/jobs/{uuid}"),),
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def routes_promised(version: str) -> set[tuple[str, str]]:
    """The (method, path) pairs a client expects from a server reporting ``version``."""
    return {
        route
        for release, routes in CLIENT_SWITCHES.items()
        if version_tuple(version) >= version_tuple(release)
        for route in routes
    }


class VersionHeaderMiddleware:
    """Adds ``FlexMeasures-Version`` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[VERSION_HEADER] = FLEXMEASURES_VERSION
            await send(message)

        await self.app(scope, receive, send_with_version)
