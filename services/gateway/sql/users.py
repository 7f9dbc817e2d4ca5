"""Users, roles and auth tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from services.gateway.sql.accounts import contains_pattern


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


# --- the users API (GET /api/v3_0/users, /users/<id>) ----------------------------------------------------


@dataclass(frozen=True)
class UserView:
    """A user as the users API shows it (no password); roles ordered by id."""

    id: int
    email: str
    username: str
    active: bool
    account_id: int
    timezone: str
    last_login_at: datetime | None
    last_seen_at: datetime | None
    role_ids: list[int]
    role_names: list[str]


_USER_VIEW = """
SELECT u.id, u.email, u.username, u.active, u.account_id, u.timezone, u.last_login_at, u.last_seen_at,
       coalesce(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), ARRAY[]::integer[]) AS role_ids,
       coalesce(array_agg(r.name ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), ARRAY[]::text[]) AS role_names
FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id
"""

SELECT_USER_VIEW = _USER_VIEW + "WHERE u.id = %(id)s GROUP BY u.id"


async def user_view(conn: AsyncConnection[Any], id: int) -> UserView | None:
    async with conn.cursor(row_factory=class_row(UserView)) as cur:
        await cur.execute(SELECT_USER_VIEW, {"id": id})
        return await cur.fetchone()


# Selection of GET /users: the given accounts, active users unless asked otherwise; every search term must
# match the email, username or account name (as FlexMeasures' user search).
_USERS_WHERE = """
WHERE u.account_id = ANY(%(account_ids)s::integer[]) AND (%(include_inactive)s OR u.active)
  AND NOT EXISTS (
      SELECT 1 FROM unnest(%(patterns)s::text[]) AS p(pattern)
      WHERE NOT (u.email ILIKE p.pattern OR u.username ILIKE p.pattern
                 OR EXISTS (SELECT 1 FROM accounts acc WHERE acc.id = u.account_id AND acc.name ILIKE p.pattern)))
"""

USER_SORT_COLUMNS = {"username": "username", "email": "email", "lastLogin": "last_login_at", "lastSeen": "last_seen_at"}

COUNT_USERS = "SELECT count(*) FROM users u " + _USERS_WHERE


@dataclass(frozen=True)
class UserSelection:
    account_ids: list[int]
    include_inactive: bool = False
    terms: tuple[str, ...] = ()
    sort_by: str | None = None  # a key of USER_SORT_COLUMNS
    descending: bool = False

    def params(self) -> dict[str, Any]:
        patterns = [contains_pattern(term) for term in self.terms]
        return {"account_ids": self.account_ids, "include_inactive": self.include_inactive, "patterns": patterns}


def _users_query(selection: UserSelection, paged: bool) -> sql.Composed:
    order: sql.Composable = sql.SQL("u.id")
    if selection.sort_by is not None:
        column = sql.Identifier("u", USER_SORT_COLUMNS[selection.sort_by])
        direction = sql.SQL("DESC" if selection.descending else "ASC")
        order = sql.SQL("{} {} NULLS LAST, u.id").format(column, direction)
    tail = sql.SQL(" LIMIT %(limit)s OFFSET %(offset)s" if paged else "")
    return sql.SQL(_USER_VIEW + _USERS_WHERE + "GROUP BY u.id ORDER BY {order}{tail}").format(order=order, tail=tail)


async def select_users(
    conn: AsyncConnection[Any], selection: UserSelection, *, limit: int | None = None, offset: int = 0
) -> list[UserView]:
    params = {**selection.params(), "limit": limit, "offset": offset}
    async with conn.cursor(row_factory=class_row(UserView)) as cur:
        await cur.execute(_users_query(selection, limit is not None), params)
        return await cur.fetchall()


async def count_users(conn: AsyncConnection[Any], selection: UserSelection) -> int:
    row = await (await conn.execute(COUNT_USERS, selection.params())).fetchone()
    return int(row[0]) if row else 0


SELECT_USER_TIMEZONE = "SELECT timezone FROM users WHERE id = %(id)s"


async def user_timezone(conn: AsyncConnection[Any], id: int) -> str | None:
    row = await (await conn.execute(SELECT_USER_TIMEZONE, {"id": id})).fetchone()
    return str(row[0]) if row else None
