"""Users, roles and auth tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    username: str
    password_hash: str
    active: bool
    account_id: int
    roles: list[str]


_USER_COLUMNS = """
u.id, u.email, u.username, u.password_hash, u.active, u.account_id,
coalesce(array_agg(r.name) FILTER (WHERE r.name IS NOT NULL), '{}') AS roles
"""

SELECT_USER_BY_EMAIL = f"""
SELECT {_USER_COLUMNS}
FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id
WHERE lower(u.email) = lower(%(email)s) GROUP BY u.id
"""

SELECT_USER_BY_TOKEN = f"""
SELECT {_USER_COLUMNS}
FROM auth_tokens t JOIN users u ON u.id = t.user_id
LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id
WHERE t.token_hash = %(token_hash)s AND t.expires_at > now()
GROUP BY u.id
"""


async def user_by_email(conn: AsyncConnection[Any], email: str) -> UserRow | None:
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(SELECT_USER_BY_EMAIL, {"email": email})
        return await cur.fetchone()


async def user_by_token(conn: AsyncConnection[Any], token_hash: bytes) -> UserRow | None:
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(SELECT_USER_BY_TOKEN, {"token_hash": token_hash})
        return await cur.fetchone()


INSERT_TOKEN = """
INSERT INTO auth_tokens (token_hash, user_id, expires_at) VALUES (%(token_hash)s, %(user_id)s, %(expires_at)s)
"""

RECORD_LOGIN = """
UPDATE users SET last_login_at = now(), login_count = login_count + 1 WHERE id = %(user_id)s
"""

DELETE_EXPIRED_TOKENS = "DELETE FROM auth_tokens WHERE user_id = %(user_id)s AND expires_at <= now()"


async def store_token(conn: AsyncConnection[Any], token_hash: bytes, user_id: int, expires_at: datetime) -> None:
    params = {"token_hash": token_hash, "user_id": user_id, "expires_at": expires_at}
    await conn.execute(DELETE_EXPIRED_TOKENS, params)
    await conn.execute(INSERT_TOKEN, params)
    await conn.execute(RECORD_LOGIN, params)


SELECT_USERS = f"""
SELECT {_USER_COLUMNS}
FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id
WHERE %(account_id)s::integer IS NULL OR u.account_id = %(account_id)s::integer
GROUP BY u.id ORDER BY u.id
"""


async def all_users(conn: AsyncConnection[Any], account_id: int | None = None) -> list[UserRow]:
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(SELECT_USERS, {"account_id": account_id})
        return await cur.fetchall()
