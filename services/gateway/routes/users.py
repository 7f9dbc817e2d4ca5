"""Users under ``/api/v3_0/users``: list and get (read side; users are created with the CLI).

Who sees what, as FlexMeasures 0.27 (docs/api.md, "Users and accounts"): without ``account_id`` the list covers
every account the caller may read (their own; a consultant's client accounts; all of them for ``admin`` and
``admin-reader``); with ``account_id`` that account, given *read* on it. ``GET /users/<id>`` needs *read* on the
user: members of the user's account (consultants may not). Unknown ids answer 404 as in FlexMeasures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import account_owner, current_user, require_on
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import path_int, query
from services.gateway.http.responses import http_error, ok, page_not_found
from services.gateway.http.validation import parse
from services.gateway.rules.permissions import Owner, Principal, may
from services.gateway.schemas.users import UserListItem, UserListQuery, UserOut, UserPage, user_json, user_list_item
from services.gateway.sql import accounts, users
from services.gateway.sql.users import UserSelection
from services.gateway.state import State


async def readable_account_ids(conn: AsyncConnection[Any], user: Principal) -> list[int]:
    """Every account ``user`` may read, by id."""
    return [a.id for a in await accounts.all_accounts(conn) if may(user, "read", "account", account_owner(a))]


async def _account_ids(conn: AsyncConnection[Any], user: Principal, account_id: int | None) -> list[int]:
    if account_id is None:
        return await readable_account_ids(conn, user)
    account = await accounts.account_by_id(conn, account_id)
    if account is None:
        raise http_error(404, f"Account {account_id} not found")
    require_on(user, "read", "account", account_owner(account))
    return [account.id]


async def list_users(request: Request[State]) -> Response:
    caller = await current_user(request)
    q = parse(UserListQuery, query(request), "query")
    async with request.state["pool"].connection() as conn:
        selection = UserSelection(
            account_ids=await _account_ids(conn, caller, q.account_id), include_inactive=q.include_inactive,
            terms=tuple(q.filter or ()), sort_by=q.sort_by if q.sort_dir else None, descending=q.sort_dir == "desc",
        )  # fmt: skip
        if q.page is None:
            rows = await users.select_users(conn, selection)
        else:
            rows = await users.select_users(conn, selection, limit=q.per_page, offset=(q.page - 1) * q.per_page)
            if not rows and q.page != 1:
                raise page_not_found()
            unfiltered = await users.count_users(conn, UserSelection(selection.account_ids, q.include_inactive))
            filtered = await users.count_users(conn, selection)
        account_rows = {a.id: a for a in await accounts.account_views(conn, sorted({r.account_id for r in rows}))}
        timezone = await users.user_timezone(conn, caller.user_id) or "UTC"
    now = datetime.now(UTC)
    data = [user_list_item(row, account_rows[row.account_id], now, timezone) for row in rows]
    if q.page is None:
        return ok(data)
    return ok({"data": data, "num-records": unfiltered, "filtered-records": filtered}, with_status=True)


async def get_user(request: Request[State]) -> Response:
    caller = await current_user(request)
    user_id = path_int(request)
    async with request.state["pool"].connection() as conn:
        row = await users.user_view(conn, user_id)
    if row is None:
        raise http_error(404, f"User {user_id} not found")
    require_on(caller, "read", "user", Owner(account_id=row.account_id, user_id=row.id))
    return ok(user_json(row), with_status=True)


_TAG = "users"
ROUTES = [
    ApiRoute("/api/v3_0/users", list_users, methods=["GET"], doc=RouteDoc(
        "List the users of the accounts you may read", tag=_TAG, query=UserListQuery,
        response=list[UserListItem] | UserPage, errors=(401, 403, 404, 422),
        description="Without `page` a bare array; with `page` the paginated object. Ascending id unless sorted.",
    )),
    ApiRoute("/api/v3_0/users/{id}", get_user, methods=["GET"], doc=RouteDoc(
        "Get a user", tag=_TAG, response=UserOut, errors=(401, 403, 404, 422),
    )),
]  # fmt: skip
