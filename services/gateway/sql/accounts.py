"""Accounts, roles and users: creation (CLI) and look-ups."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

INSERT_ACCOUNT = """
INSERT INTO accounts (name, consultancy_account_id) VALUES (%(name)s, %(consultancy_account_id)s) RETURNING id
"""

SELECT_ACCOUNT_ID = "SELECT id FROM accounts WHERE name = %(name)s"


async def account_id(conn: AsyncConnection[Any], name: str) -> int | None:
    cur = await conn.execute(SELECT_ACCOUNT_ID, {"name": name})
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def create_account(conn: AsyncConnection[Any], name: str, consultancy_account_id: int | None = None) -> int:
    cur = await conn.execute(INSERT_ACCOUNT, {"name": name, "consultancy_account_id": consultancy_account_id})
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


INSERT_USER = """
INSERT INTO users (email, username, password_hash, account_id, fs_uniquifier, active)
VALUES (%(email)s, %(username)s, %(password_hash)s, %(account_id)s, %(fs_uniquifier)s, %(active)s) RETURNING id
"""

UPSERT_ROLE = """
INSERT INTO roles (name) VALUES (%(name)s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id
"""

LINK_ROLE = "INSERT INTO user_roles (user_id, role_id) VALUES (%(user_id)s, %(role_id)s) ON CONFLICT DO NOTHING"


async def create_user(
    conn: AsyncConnection[Any],
    *,
    email: str,
    username: str,
    password_hash: str,
    account_id: int,
    roles: list[str],
    active: bool = True,
) -> int:
    cur = await conn.execute(
        INSERT_USER,
        {"email": email, "username": username, "password_hash": password_hash, "account_id": account_id,
         "fs_uniquifier": secrets.token_hex(16), "active": active},
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    user_id = int(row[0])
    for role in roles:
        role_row = await (await conn.execute(UPSERT_ROLE, {"name": role})).fetchone()
        assert role_row is not None
        await conn.execute(LINK_ROLE, {"user_id": user_id, "role_id": role_row[0]})
    return user_id


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    consultancy_account_id: int | None


SELECT_ACCOUNT = "SELECT id, name, consultancy_account_id FROM accounts WHERE id = %(id)s"
SELECT_ACCOUNTS = "SELECT id, name, consultancy_account_id FROM accounts ORDER BY id"


async def account_by_id(conn: AsyncConnection[Any], id: int) -> AccountRow | None:
    async with conn.cursor(row_factory=class_row(AccountRow)) as cur:
        await cur.execute(SELECT_ACCOUNT, {"id": id})
        return await cur.fetchone()


async def all_accounts(conn: AsyncConnection[Any]) -> list[AccountRow]:
    async with conn.cursor(row_factory=class_row(AccountRow)) as cur:
        await cur.execute(SELECT_ACCOUNTS)
        return await cur.fetchall()


# --- the accounts API (GET /api/v3_0/accounts, /accounts/<id>) and account objects in user bodies ------


def contains_pattern(term: str) -> str:
    """An ILIKE pattern matching text that contains ``term`` literally (``%`` and ``_`` included)."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class AccountView:
    """An account as the API shows it, with its account roles (``{"id", "name"}``, by id) and counts."""

    id: int
    name: str
    consultancy_account_id: int | None
    account_roles: list[dict[str, Any]]
    user_count: int
    asset_count: int


_ACCOUNT_VIEW = """
SELECT a.id, a.name, a.consultancy_account_id,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name) ORDER BY r.id)
                 FROM account_role_links l JOIN account_roles r ON r.id = l.role_id WHERE l.account_id = a.id),
                '[]'::jsonb) AS account_roles,
       (SELECT count(*) FROM users u WHERE u.account_id = a.id) AS user_count,
       (SELECT count(*) FROM generic_assets g WHERE g.account_id = a.id) AS asset_count
FROM accounts a
WHERE a.id = ANY(%(ids)s::integer[])
  AND (cardinality(%(patterns)s::text[]) = 0 OR a.name ILIKE ANY(%(patterns)s::text[]))
"""

ACCOUNT_SORT_COLUMNS = {"id": "id", "name": "name", "assets": "asset_count", "users": "user_count"}


def _accounts_query(sort_by: str | None, descending: bool, paged: bool) -> sql.Composed:
    order: sql.Composable = sql.SQL("id")
    if sort_by is not None:
        direction = sql.SQL("DESC" if descending else "ASC")
        order = sql.SQL("{} {}, id").format(sql.Identifier(ACCOUNT_SORT_COLUMNS[sort_by]), direction)
    tail = sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s" if paged else "")
    return sql.SQL("SELECT * FROM (" + _ACCOUNT_VIEW + ") v ORDER BY {order}{tail}").format(order=order, tail=tail)


async def account_views(
    conn: AsyncConnection[Any],
    ids: list[int],
    *,
    terms: tuple[str, ...] = (),
    sort_by: str | None = None,
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[AccountView]:
    """The accounts among ``ids`` whose name contains any of the terms (all without terms), by id unless sorted."""
    patterns = [contains_pattern(term) for term in terms]
    params = {"ids": ids, "patterns": patterns, "limit": limit, "offset": offset}
    async with conn.cursor(row_factory=class_row(AccountView)) as cur:
        await cur.execute(_accounts_query(sort_by, descending, limit is not None), params)
        return await cur.fetchall()


COUNT_ACCOUNTS = """
SELECT count(*) FROM accounts a WHERE a.id = ANY(%(ids)s::integer[])
  AND (cardinality(%(patterns)s::text[]) = 0 OR a.name ILIKE ANY(%(patterns)s::text[]))
"""


async def count_accounts(conn: AsyncConnection[Any], ids: list[int], terms: tuple[str, ...] = ()) -> int:
    patterns = [contains_pattern(term) for term in terms]
    row = await (await conn.execute(COUNT_ACCOUNTS, {"ids": ids, "patterns": patterns})).fetchone()
    return int(row[0]) if row else 0
