"""Accounts, roles and users: creation (CLI) and look-ups."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
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
