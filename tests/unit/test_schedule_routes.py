"""The pure parts of the scheduling routes (services/gateway/routes/schedules.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.gateway.http.responses import ApiError
from services.gateway.routes.schedules import normalise_force_flag, read_duration, request_hash
from shared.flex import SensorFacts, validate_trigger

BATTERY = SensorFacts(id=1, unit="kW", event_resolution=timedelta(minutes=15), timezone="UTC", asset_type="battery",
                      flex_context={"consumption-price": "20 EUR/MWh"})  # fmt: skip
BODY: dict[str, Any] = {
    "start": "2026-06-01T00:00:00+00:00",
    "duration": "PT2H",
    "flex-model": {"soc-max": 10, "power-capacity": "1 kW"},
}


def _hash(body: Mapping[str, Any], sensor: SensorFacts = BATTERY) -> bytes:
    return request_hash(sensor.id, validate_trigger(body, sensor, {}))


def test_the_hash_uses_the_flex_context_as_sent_not_the_merged_one() -> None:
    changed_store = replace(BATTERY, flex_context={"consumption-price": "90 EUR/MWh"})
    assert _hash(BODY) == _hash(BODY, changed_store)
    assert _hash(BODY) != _hash({**BODY, "flex-context": {"consumption-price": "20 EUR/MWh"}})


def test_the_hash_sees_window_prior_and_flex_model_but_not_the_force_flag() -> None:
    assert _hash(BODY) == _hash({**BODY, "start": "2026-06-01T02:00:00+02:00"})  # the same instant
    assert _hash(BODY) != _hash({**BODY, "duration": "PT3H"})
    assert _hash(BODY) != _hash({**BODY, "prior": "2026-05-31T00:00:00+00:00"})
    assert _hash(BODY) != _hash({**BODY, "flex-model": {"soc-max": 11, "power-capacity": "1 kW"}})
    assert _hash(BODY) == _hash({**BODY, "force_new_job_creation": True})


def test_the_hyphenated_force_flag_is_accepted() -> None:
    assert normalise_force_flag({"force-new-job-creation": True}) == {"force_new_job_creation": True}
    both = {"force-new-job-creation": True, "force_new_job_creation": False}
    assert normalise_force_flag(both) == both  # the documented spelling wins; the other is an unknown field


def test_read_duration_default_zero_and_errors() -> None:
    assert read_duration({}) == timedelta(hours=6)
    assert read_duration({"duration": "P3D"}) == timedelta(days=3)
    for params, status in (({"duration": "PT0H"}, 400), ({"duration": "x"}, 422), ({"uuid": "a"}, 422)):
        with pytest.raises(ApiError) as caught:
            read_duration(params)
        assert caught.value.status_code == status
