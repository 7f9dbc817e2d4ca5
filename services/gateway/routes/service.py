"""``GET /api/``: the public service listing (API versions served, FlexMeasures release reported)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.responses import ok
from services.gateway.http.server_version import API_VERSIONS, FLEXMEASURES_VERSION

LISTING_MESSAGE = (
    "FlexStream serves the FlexMeasures API versions listed under 'versions', each under /api/<version> "
    "(for example /api/v3_0). Ask for an authentication token at /api/requestAuthToken."
)


class ServiceListing(BaseModel):
    flexmeasures_version: str
    message: str
    status: int
    versions: list[str]


def listing() -> dict[str, object]:
    return {"flexmeasures_version": FLEXMEASURES_VERSION, "message": LISTING_MESSAGE, "versions": list(API_VERSIONS)}


async def get_versions(_: Request) -> Response:
    return ok(listing(), with_status=True)


ROUTES = [
    ApiRoute("/api/", get_versions, methods=["GET"], doc=RouteDoc(
        "API versions and the FlexMeasures release this server answers as", tag="service", public=True,
        response=ServiceListing, errors=(),
    )),
]  # fmt: skip
