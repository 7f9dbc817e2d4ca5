"""User, account and asset bodies as FlexMeasures 0.27 shapes them; asset update bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.http.responses import ApiError
from services.gateway.http.validation import parse
from services.gateway.schemas.assets import AssetUpdate, asset_json
from services.gateway.schemas.users import account_json, naturalized, user_json, user_list_item
from services.gateway.sql.accounts import AccountView
from services.gateway.sql.assets import AssetRelations, AssetRow
from services.gateway.sql.users import UserView

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNT = AccountView(3, "Acme", 1, [{"id": 2, "name": "Prosumer"}], user_count=4, asset_count=5)


def user(**changes: object) -> UserView:
    fields: dict[str, object] = {
        "id": 7, "email": "a@example.com", "username": "alice", "active": True, "account_id": 3,
        "timezone": "Europe/Amsterdam", "last_login_at": NOW - timedelta(minutes=3), "last_seen_at": None,
        "role_ids": [1, 4], "role_names": ["account-admin", "consultant"],
    }  # fmt: skip
    return UserView(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (None, "never"),
        (NOW, "now"),
        (NOW - timedelta(seconds=30), "30 seconds ago"),
        (NOW - timedelta(minutes=3), "3 minutes ago"),
        (NOW - timedelta(hours=5), "5 hours ago"),
    ],
)
def test_naturalized_within_a_day(moment: datetime | None, expected: str) -> None:
    assert naturalized(moment, NOW, "UTC") == expected


def test_naturalized_older_is_a_date_in_the_callers_timezone() -> None:
    late_evening_utc = datetime(2024, 3, 4, 23, 30, tzinfo=UTC)  # already 5 March in Amsterdam
    assert naturalized(late_evening_utc, NOW, "Europe/Amsterdam") == "Mar 05 2024"
    assert naturalized(late_evening_utc, NOW, "UTC") == "Mar 04 2024"


def test_account_body() -> None:
    assert account_json(ACCOUNT) == {
        "id": 3, "name": "Acme", "account_roles": [{"id": 2, "name": "Prosumer"}], "consultancy_account_id": 1,
        "primary_color": None, "secondary_color": None, "logo_url": None,
    }  # fmt: skip


def test_user_body_has_role_ids_and_naive_utc_times() -> None:
    body = user_json(user(last_login_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC)))
    assert body == {
        "id": 7, "email": "a@example.com", "username": "alice", "account_id": 3, "active": True,
        "timezone": "Europe/Amsterdam", "flexmeasures_roles": [1, 4], "last_login_at": "2026-11-30T09:15:00",
        "last_seen_at": None,
    }  # fmt: skip


def test_user_list_item_has_role_names_humanized_times_and_the_account() -> None:
    item = user_list_item(user(), ACCOUNT, NOW, "UTC")
    assert item["flexmeasures_roles"] == ["account-admin", "consultant"]
    assert (item["last_login_at"], item["last_seen_at"]) == ("3 minutes ago", "never")
    assert item["account"] == account_json(ACCOUNT)


def asset_row(account_id: int | None) -> AssetRow:
    return AssetRow(
        id=10, name="site", generic_asset_type_id=2, generic_asset_type_name="building", account_id=account_id,
        consultancy_account_id=None, parent_asset_id=None, latitude=None, longitude=None, attributes={"a": 1},
        flex_context={}, sensors_to_show=[5],
    )  # fmt: skip


def test_asset_body_names_owner_children_and_sensors() -> None:
    child = {"id": 11, "name": "battery", "account_id": 3, "generic_asset_type": {"id": 4, "name": "battery"}}
    relations = AssetRelations(10, "Acme", [child], [{"id": 5, "name": "power"}])
    body = asset_json(asset_row(3), relations)
    assert body["owner"] == {"id": 3, "name": "Acme"}
    assert body["child_assets"] == [child] and body["sensors"] == [{"id": 5, "name": "power"}]
    assert json.loads(body["sensors_to_show"]) == [5] and json.loads(body["attributes"]) == {"a": 1}


def test_public_asset_has_no_owner() -> None:
    assert asset_json(asset_row(None), AssetRelations(10, None, [], []))["owner"] is None


def test_asset_update_keeps_only_what_was_sent() -> None:
    update = parse(AssetUpdate, {"latitude": 52.0, "sensors_to_show": "[1, [2, 3]]", "parent_asset_id": None}, "json")
    assert update.changes() == {"latitude": 52.0, "sensors_to_show": [1, [2, 3]], "parent_asset_id": None}


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"account_id": 2}, "account_id", "Unknown field."),
        ({"id": 2}, "id", "Unknown field."),
        ({"name": None}, "name", "Field may not be null."),
        ({"generic_asset_type_id": None}, "generic_asset_type_id", "Field may not be null."),
        ({"sensors_to_show": "{}"}, "sensors_to_show", "sensors_to_show should be a list."),
        ({"attributes": "[1]"}, "attributes", "Not a JSON object"),
        ({"latitude": 91}, "latitude", "Latitude 91.0 is outside the range [-90, 90] degrees."),
    ],
)
def test_asset_update_refuses(body: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse(AssetUpdate, body, "json")
    assert caught.value.status_code == 422
    assert any(t.startswith(text) for t in caught.value.body["message"]["json"][field])
