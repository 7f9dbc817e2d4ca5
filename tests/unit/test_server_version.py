"""The FlexMeasures release FlexStream reports matches the routes it mounts (clients choose routes by it)."""

from __future__ import annotations

from services.gateway.http.openapi import operations
from services.gateway.http.server_version import (
    CLIENT_SWITCHES,
    FLEXMEASURES_VERSION,
    routes_promised,
    version_tuple,
)
from services.gateway.routes import ROUTES


def _served() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method in operations(ROUTES)}


def test_every_route_the_reported_release_promises_is_served() -> None:
    missing = routes_promised(FLEXMEASURES_VERSION) - _served()
    assert not missing, f"FlexStream reports {FLEXMEASURES_VERSION} but does not serve {sorted(missing)}"


def test_the_next_client_switch_is_not_served_yet() -> None:
    """Reporting a release below the next switch is only right while one of its routes is missing: once they
    are all served, report that release (server_version.FLEXMEASURES_VERSION) and say so in docs/api.md."""
    later = [r for r in CLIENT_SWITCHES if version_tuple(r) > version_tuple(FLEXMEASURES_VERSION)]
    if later:
        next_release = min(later, key=version_tuple)
        assert not set(CLIENT_SWITCHES[next_release]) <= _served(), f"all routes of {next_release} are served"


def test_promises_grow_with_the_release() -> None:
    assert routes_promised("0.26.1") == set()
    assert routes_promised("0.27.0") == {("POST", "/api/v3_0/assets/{id}/schedules/trigger")}
    assert routes_promised("0.33.0") == {
        ("POST", "/api/v3_0/assets/{id}/schedules/trigger"),
        ("GET", "/api/v3_0/jobs/{uuid}"),
    }
