"""Sensor and asset input models: FlexMeasures' error texts through validation.parse (E1 bodies)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from services.gateway.http.responses import ApiError
from services.gateway.http.validation import parse
from services.gateway.schemas.assets import AssetCreate
from services.gateway.schemas.sensors import SensorCreate, SensorListQuery, SensorUpdate, changed_fields, sensor_json
from services.gateway.sql.sensors import SensorRow

VALID = {"name": "power", "unit": "kW", "event_resolution": "PT15M", "generic_asset_id": 3}


def errors(model: Any, data: Any, location: str = "json") -> Any:
    with pytest.raises(ApiError) as info:
        parse(model, data, location)
    assert info.value.status_code == 422
    assert info.value.body["result"] == "Rejected" and info.value.body["status"] == "UNPROCESSABLE_ENTITY"
    return info.value.body["message"][location]


def test_create_defaults() -> None:
    body = parse(SensorCreate, VALID, "json")
    assert body.timezone == "UTC" and body.attributes == {} and body.event_resolution == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"unit": "blorp"}, "unit", "Unit 'blorp' cannot be handled."),
        ({"unit": ""}, "unit", "Unit '' cannot be handled."),
        ({"event_resolution": "PT30S"}, "event_resolution", "FlexMeasures only support multiples of 1 minute."),
        ({"event_resolution": "-PT15M"}, "event_resolution", "Event resolution cannot be negative."),
        ({"attributes": "{not json"}, "attributes", "Not a valid JSON string."),
        ({"generic_asset_id": "x"}, "generic_asset_id", "Not a valid integer."),
        ({"name": 5}, "name", "Not a valid string."),
        ({"name": "x" * 121}, "name", "Longer than maximum length 120."),
        ({"id": 1}, "id", "Unknown field."),
        ({"entity_address": "ea1"}, "entity_address", "Unknown field."),
    ],
)
def test_create_errors(change: dict[str, Any], field: str, text: str) -> None:
    assert errors(SensorCreate, {**VALID, **change}) == {field: [text]}


def test_create_missing_fields() -> None:
    missing = ["Missing data for required field."]
    assert errors(SensorCreate, {}) == {"name": missing, "unit": missing, "event_resolution": missing,
                                        "generic_asset_id": missing}  # fmt: skip


def test_timezone_is_validated() -> None:
    assert "timezone" in errors(SensorCreate, {**VALID, "timezone": "Mars/Olympus"})
    assert parse(SensorCreate, {**VALID, "timezone": "Europe/Amsterdam"}, "json").timezone == "Europe/Amsterdam"


def test_attributes_as_string_or_object() -> None:
    assert parse(SensorCreate, {**VALID, "attributes": '{"a": 1}'}, "json").attributes == {"a": 1}
    assert parse(SensorCreate, {**VALID, "attributes": {"a": 1}}, "json").attributes == {"a": 1}
    assert "attributes" in errors(SensorCreate, {**VALID, "attributes": "[1, 2]"})


def test_update_is_partial_and_refuses_nulls_and_immutable_fields() -> None:
    update = parse(SensorUpdate, {"name": "n", "event_resolution": "P1D"}, "json")
    assert changed_fields(update) == {"name": "n", "event_resolution": timedelta(days=1)}
    assert errors(SensorUpdate, {"name": None}) == {"name": ["Field may not be null."]}
    assert errors(SensorUpdate, {"generic_asset_id": 2}) == {"generic_asset_id": ["Unknown field."]}


def test_list_query() -> None:
    q = parse(SensorListQuery, {"page": "2", "include_public_assets": "on", "filter": 'a "b c"', "other": "x"}, "query")
    assert (q.page, q.per_page, q.include_public_assets, q.filter) == (2, 10, True, ["a", "b c"])
    assert errors(SensorListQuery, {"filter": '"unbalanced'}, "query") == {
        "filter": ["Invalid filter: No closing quotation."]
    }
    assert errors(SensorListQuery, {"unit": "blorp"}, "query") == {"unit": ["Invalid unit: blorp"]}
    assert errors(SensorListQuery, {"page": "0"}, "query") == {"page": ["Must be greater than or equal to 1."]}
    assert errors(SensorListQuery, {"include_consultancy_clients": "maybe"}, "query") == {
        "include_consultancy_clients": ["Not a valid boolean."]
    }


def test_sensor_json_matches_the_spec_example() -> None:
    row = SensorRow(
        id=7, name="power", unit="kW", timezone="Europe/Amsterdam", event_resolution=timedelta(minutes=15),
        attributes={"consumption_is_positive": False}, generic_asset_id=3, knowledge_horizon_fnc="ex_post",
        account_id=1, consultancy_account_id=None, asset_name="battery",
    )  # fmt: skip
    body = sensor_json(row, "flexmeasures.io", {"flexmeasures.io": "2021-01"}, date(2024, 1, 1))
    assert body == {
        "attributes": '{"consumption_is_positive": false}', "entity_address": "ea1.2021-01.io.flexmeasures:fm1.7",
        "event_resolution": "PT15M", "generic_asset_id": 3, "id": 7, "name": "power", "timezone": "Europe/Amsterdam",
        "unit": "kW",
    }  # fmt: skip
    assert json.dumps({}) == "{}"


def test_asset_create_needs_exactly_one_type() -> None:
    assert errors(AssetCreate, {"name": "a"}) == {
        "_schema": ["Give the asset type either by generic_asset_type_id or by generic_asset_type (its name)."]
    }
    assert parse(AssetCreate, {"name": "a", "generic_asset_type": "battery"}, "json").generic_asset_type == "battery"
    assert "latitude" in errors(AssetCreate, {"name": "a", "generic_asset_type_id": 1, "latitude": 91})
