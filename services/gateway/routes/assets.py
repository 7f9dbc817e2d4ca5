"""Assets under ``/api/v3_0/assets``: list, get, create, update, delete.

Same order as FlexMeasures' asset routes: 401, then 422 (input and referenced objects), then 404 for an unknown
asset id, then 403. Deleting an asset deletes its descendants, their sensors and all their beliefs; each deleted
sensor writes a ``SensorChanged`` event to the outbox in the same transaction, as a sensor deletion does.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import account_owner, asset_owner, current_user, require_on
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import json_object, path_int, query
from services.gateway.http.responses import ApiError, http_error, no_content, ok, unprocessable
from services.gateway.http.validation import parse
from services.gateway.rules import sensor_events
from services.gateway.rules.permissions import Owner, Principal
from services.gateway.schemas.assets import (
    AssetCreate,
    AssetListQuery,
    AssetOut,
    AssetTypeListItem,
    AssetUpdate,
    asset_json,
)
from services.gateway.sql import accounts, assets
from services.gateway.sql.accounts import AccountRow
from services.gateway.sql.assets import AssetRow
from services.gateway.state import State


async def list_assets(request: Request[State]) -> Response:
    user = await current_user(request)
    q = parse(AssetListQuery, query(request), "query")
    async with request.state["pool"].connection() as conn:
        account = await accounts.account_by_id(conn, user.account_id if q.account_id is None else q.account_id)
        if account is None:
            raise http_error(404, f"Account {q.account_id} not found")
        require_on(user, "read", "account", account_owner(account))
        rows = await assets.select_assets(conn, account.id, q.include_public)
        relations = await assets.asset_relations(conn, [row.id for row in rows])
    return ok([asset_json(row, relations[row.id]) for row in rows])


async def list_asset_types(request: Request[State]) -> Response:
    """Every asset type, by id (FlexMeasures serves this from 0.28 on; clients need the ids to create assets)."""
    await current_user(request)
    async with request.state["pool"].connection() as conn:
        types = await assets.asset_types(conn)
    return ok([{"id": t.id, "name": t.name, "description": t.description} for t in types])


async def _asset_body(conn: AsyncConnection[Any], asset_id: int) -> dict[str, Any]:
    row = await assets.asset_by_id(conn, asset_id)
    assert row is not None
    return asset_json(row, (await assets.asset_relations(conn, [asset_id]))[asset_id])


def _unknown_asset(asset_id: int) -> ApiError:
    return http_error(404, f"No asset found with ID {asset_id}.")


async def get_asset(request: Request[State]) -> Response:
    user = await current_user(request)
    asset_id = path_int(request)
    async with request.state["pool"].connection() as conn:
        asset = await assets.asset_by_id(conn, asset_id)
        if asset is None:
            raise _unknown_asset(asset_id)
        require_on(user, "read", "asset", asset_owner(asset))
        body = await _asset_body(conn, asset_id)
    return ok(body, with_status=True)


async def _owner_account(conn: AsyncConnection[Any], user: Principal, body: AssetCreate) -> AccountRow | None:
    """The account the new asset belongs to (None: public), or E1 when it does not exist."""
    if "account_id" not in body.model_fields_set:
        return await accounts.account_by_id(conn, user.account_id)
    if body.account_id is None:
        return None
    account = await accounts.account_by_id(conn, body.account_id)
    if account is None:
        raise unprocessable("json", "account_id", f"Account with Id {body.account_id} doesn't exist.")
    return account


async def create_asset(request: Request[State]) -> Response:
    user = await current_user(request)
    body = parse(AssetCreate, await json_object(request), "json")
    async with request.state["pool"].connection() as conn:
        account = await _owner_account(conn, user, body)
        type_id = body.generic_asset_type_id
        if type_id is not None and await assets.asset_type_name(conn, type_id) is None:
            raise unprocessable(
                "json", "generic_asset_type_id", f"GenericAssetType with id {body.generic_asset_type_id} doesn't exist."
            )
        if body.parent_asset_id is not None:
            parent = await assets.asset_by_id(conn, body.parent_asset_id)
            if parent is None:
                raise unprocessable(
                    "json", "parent_asset_id", f"Parent GenericAsset with id {body.parent_asset_id} doesn't exist."
                )
            if parent.account_id != (account.id if account else None):
                raise unprocessable("json", "parent_asset_id", "The parent asset belongs to another account.")
        owner = account_owner(account) if account else Owner(account_id=None)
        require_on(user, "create-children", "account" if account else "asset", owner)
        try:
            async with conn.transaction():
                asset_id = await assets.create_asset(
                    conn, name=body.name, asset_type=body.generic_asset_type_id or str(body.generic_asset_type),
                    account_id=account.id if account else None,
                    parent_asset_id=body.parent_asset_id, latitude=body.latitude, longitude=body.longitude,
                    attributes=body.attributes, flex_context=body.flex_context, sensors_to_show=body.sensors_to_show,
                )  # fmt: skip
        except UniqueViolation:
            raise _duplicate_name(body.name, body.parent_asset_id) from None
        created = await _asset_body(conn, asset_id)
    return ok(created, 201)


def _duplicate_name(name: str, parent_asset_id: int | None) -> ApiError:
    return unprocessable(
        "json", "name", f"An asset with the name '{name}' already exists under parent asset {parent_asset_id}."
    )


async def _check_references(conn: AsyncConnection[Any], body: AssetUpdate) -> None:
    """E1 for a type or parent that does not exist (checked with the body, before the asset itself)."""
    changes = body.changes()
    if "generic_asset_type_id" in changes and await assets.asset_type_name(conn, body.generic_asset_type_id) is None:
        raise unprocessable(
            "json", "generic_asset_type_id", f"GenericAssetType with id {body.generic_asset_type_id} doesn't exist."
        )
    if body.parent_asset_id is not None and await assets.asset_by_id(conn, body.parent_asset_id) is None:
        raise unprocessable(
            "json", "parent_asset_id", f"Parent GenericAsset with id {body.parent_asset_id} doesn't exist."
        )


async def _check_new_parent(conn: AsyncConnection[Any], asset: AssetRow, parent_id: int) -> None:
    """A new parent must be in the asset's account and must not be the asset or one of its descendants."""
    parent = await assets.asset_by_id(conn, parent_id)
    if parent is None:  # deleted since the body was checked
        raise unprocessable("json", "parent_asset_id", f"Parent GenericAsset with id {parent_id} doesn't exist.")
    if parent.account_id != asset.account_id:
        raise unprocessable("json", "parent_asset_id", "The parent asset belongs to another account.")
    if parent_id in await assets.subtree_ids(conn, asset.id):
        raise unprocessable("json", "parent_asset_id", "An asset cannot be its own ancestor.")


async def update_asset(request: Request[State]) -> Response:
    user = await current_user(request)
    body = parse(AssetUpdate, await json_object(request), "json")
    asset_id = path_int(request)
    changes = body.changes()
    async with request.state["pool"].connection() as conn:
        await _check_references(conn, body)
        asset = await assets.asset_by_id(conn, asset_id)
        if asset is None:
            raise _unknown_asset(asset_id)
        require_on(user, "update", "asset", asset_owner(asset))
        try:
            async with conn.transaction():
                if not await assets.lock_asset(conn, asset_id):
                    raise _unknown_asset(asset_id)
                if (parent_id := changes.get("parent_asset_id")) is not None:
                    await _check_new_parent(conn, asset, parent_id)
                await assets.update_asset(conn, asset_id, changes)
        except UniqueViolation:
            name = changes.get("name", asset.name)
            raise _duplicate_name(name, changes.get("parent_asset_id", asset.parent_asset_id)) from None
        updated = await _asset_body(conn, asset_id)
    return ok(updated, with_status=True)


async def delete_asset(request: Request[State]) -> Response:
    user = await current_user(request)
    asset_id = path_int(request)
    settings = request.state["settings"]
    async with request.state["pool"].connection() as conn:
        asset = await assets.asset_by_id(conn, asset_id)
        if asset is None:
            raise _unknown_asset(asset_id)
        require_on(user, "delete", "asset", asset_owner(asset))
        async with conn.transaction():
            if not await assets.lock_asset(conn, asset_id):
                raise _unknown_asset(asset_id)
            sensor_ids = await assets.subtree_sensor_ids(conn, asset_id)
            await assets.delete_asset(conn, asset_id)
            for sensor_id in sensor_ids:
                event = sensor_events.event_for("deleted", sensor_id, None)
                await sensor_events.record(conn, settings.topic_prefix, event)
    for sensor_id in sensor_ids:
        request.state["sensors"].pop(sensor_id, None)
    return no_content()


_TAG = "assets"
ROUTES = [
    ApiRoute("/api/v3_0/assets", list_assets, methods=["GET"], doc=RouteDoc(
        "List the assets of an account", tag=_TAG, query=AssetListQuery, response=list[AssetOut],
        errors=(401, 403, 404, 422),
    )),
    ApiRoute("/api/v3_0/assets", create_asset, methods=["POST"], doc=RouteDoc(
        "Create an asset", tag=_TAG, body=AssetCreate, response=AssetOut, success=201, errors=(400, 401, 403, 422),
    )),
    ApiRoute("/api/v3_0/assets/types", list_asset_types, methods=["GET"], doc=RouteDoc(
        "List the asset types", tag=_TAG, response=list[AssetTypeListItem], errors=(401,),
    )),
    ApiRoute("/api/v3_0/assets/{id}", get_asset, methods=["GET"], doc=RouteDoc(
        "Get an asset", tag=_TAG, response=AssetOut, errors=(401, 403, 404, 422),
    )),
    ApiRoute("/api/v3_0/assets/{id}", update_asset, methods=["PATCH"], doc=RouteDoc(
        "Update an asset", tag=_TAG, body=AssetUpdate, response=AssetOut, errors=(400, 401, 403, 404, 422),
        description="Any subset of the fields; `attributes`, `flex_context` and `sensors_to_show` are replaced whole.",
    )),
    ApiRoute("/api/v3_0/assets/{id}", delete_asset, methods=["DELETE"], doc=RouteDoc(
        "Delete an asset, its descendants, their sensors and all their data", tag=_TAG, success=204,
        errors=(401, 403, 404, 422),
    )),
]  # fmt: skip
