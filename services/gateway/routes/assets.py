"""Assets under ``/api/v3_0/assets``: list, get, create (enough for a client to set up its sensors).

Same order as the sensor routes: 401, then 422 (input and referenced objects), then 403.
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
from services.gateway.http.responses import http_error, ok, unprocessable
from services.gateway.http.validation import parse
from services.gateway.rules.permissions import Owner, Principal
from services.gateway.schemas.assets import AssetCreate, AssetListQuery, AssetOut, asset_json
from services.gateway.sql import accounts, assets
from services.gateway.sql.accounts import AccountRow
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
    return ok([asset_json(row) for row in rows])


async def get_asset(request: Request[State]) -> Response:
    user = await current_user(request)
    asset_id = path_int(request)
    async with request.state["pool"].connection() as conn:
        asset = await assets.asset_by_id(conn, asset_id)
    if asset is None:
        raise unprocessable("path", "id", f"No asset found with ID {asset_id}.")
    require_on(user, "read", "asset", asset_owner(asset))
    return ok(asset_json(asset))


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
                    attributes=body.attributes, flex_context=body.flex_context,
                )  # fmt: skip
        except UniqueViolation:
            raise unprocessable(
                "json", "name", f"An asset with the name '{body.name}' already exists under parent asset "
                f"{body.parent_asset_id}."
            ) from None  # fmt: skip
        row = await assets.asset_by_id(conn, asset_id)
    assert row is not None
    return ok(asset_json(row), 201)


_TAG = "assets"
ROUTES = [
    ApiRoute("/api/v3_0/assets", list_assets, methods=["GET"], doc=RouteDoc(
        "List the assets of an account", tag=_TAG, query=AssetListQuery, response=list[AssetOut],
        errors=(401, 403, 404, 422),
    )),
    ApiRoute("/api/v3_0/assets", create_asset, methods=["POST"], doc=RouteDoc(
        "Create an asset", tag=_TAG, body=AssetCreate, response=AssetOut, success=201, errors=(400, 401, 403, 422),
    )),
    ApiRoute("/api/v3_0/assets/{id}", get_asset, methods=["GET"], doc=RouteDoc(
        "Get an asset", tag=_TAG, response=AssetOut, errors=(401, 403, 422),
    )),
]  # fmt: skip
