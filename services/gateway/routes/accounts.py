"""Accounts under ``/api/v3_0/accounts``: list and get (read side; accounts are created with the CLI).

The list holds the caller's own account, plus the client accounts of a consultant, or every account for
``admin`` and ``admin-reader`` (as FlexMeasures 0.27). ``GET /accounts/<id>`` needs *read* on the account:
its members, consultants of it, ``admin``, ``admin-reader``; an unknown id answers 404.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.guards import current_user, require_on
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import path_int, query
from services.gateway.http.responses import http_error, ok, page_not_found
from services.gateway.http.validation import parse
from services.gateway.rules.permissions import Owner, Principal
from services.gateway.schemas.users import (
    AccountListQuery,
    AccountOut,
    AccountPage,
    account_json,
    account_page_item,
)
from services.gateway.sql import accounts
from services.gateway.state import State


async def listed_account_ids(conn: AsyncConnection[Any], user: Principal) -> list[int]:
    """The caller's account, a consultant's client accounts, or all accounts for those who may read all."""
    every = await accounts.all_accounts(conn)
    if user.roles & {"admin", "admin-reader"}:
        return [a.id for a in every]
    consultant = "consultant" in user.roles
    return [
        a.id for a in every if a.id == user.account_id or (consultant and a.consultancy_account_id == user.account_id)
    ]


async def list_accounts(request: Request[State]) -> Response:
    caller = await current_user(request)
    q = parse(AccountListQuery, query(request), "query")
    terms = tuple(q.filter[0].split(" ")) if q.filter else ()  # FlexMeasures: the first term's words, any of them
    sort_by, descending = (q.sort_by if q.sort_dir else None), q.sort_dir == "desc"
    limit, offset = (None, 0) if q.page is None else (q.per_page, (q.page - 1) * q.per_page)
    async with request.state["pool"].connection() as conn:
        ids = await listed_account_ids(conn, caller)
        rows = await accounts.account_views(
            conn, ids, terms=terms, sort_by=sort_by, descending=descending, limit=limit, offset=offset
        )
        if q.page is None:
            return ok([account_json(a) for a in rows])
        if not rows and q.page != 1:
            raise page_not_found()
        total = await accounts.count_accounts(conn, ids, terms)
    body = {"data": [account_page_item(a) for a in rows], "num-records": total, "filtered-records": total}
    return ok(body, with_status=True)


async def get_account(request: Request[State]) -> Response:
    caller = await current_user(request)
    account_id = path_int(request)
    async with request.state["pool"].connection() as conn:
        found = await accounts.account_views(conn, [account_id])
    if not found:
        raise http_error(404, f"Account {account_id} not found")
    account = found[0]
    require_on(caller, "read", "account", Owner(account.id, account.consultancy_account_id))
    return ok(account_json(account), with_status=True)


_TAG = "accounts"
ROUTES = [
    ApiRoute("/api/v3_0/accounts", list_accounts, methods=["GET"], doc=RouteDoc(
        "List the accounts you can see", tag=_TAG, query=AccountListQuery, response=list[AccountOut] | AccountPage,
        errors=(401, 404, 422),
        description="Without `page` a bare array; with `page` the paginated object (with user and asset counts).",
    )),
    ApiRoute("/api/v3_0/accounts/{id}", get_account, methods=["GET"], doc=RouteDoc(
        "Get an account", tag=_TAG, response=AccountOut, errors=(401, 403, 404, 422),
    )),
]  # fmt: skip
