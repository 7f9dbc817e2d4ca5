"""Passwords (argon2) and opaque auth tokens (stored as SHA-256 with an expiry).

A token is read from the ``Authorization`` header (the raw token, as FlexMeasures; a ``Bearer `` prefix
is accepted too) or from the ``auth_token`` query parameter; the header wins.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection
from starlette.requests import Request

from services.gateway.http.responses import unauthenticated
from services.gateway.rules.permissions import Principal
from services.gateway.sql import users

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue_token(conn: AsyncConnection[Any], user_id: int, max_age: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    await users.store_token(conn, token_hash(token), user_id, datetime.now(UTC) + max_age)
    return token


def token_from(request: Request[Any]) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header.removeprefix("Bearer ").strip() or None
    return request.query_params.get("auth_token") or None


async def principal_for(conn: AsyncConnection[Any], token: str | None) -> Principal:
    """The active user the token belongs to, or E2 (401)."""
    if not token:
        raise unauthenticated()
    row = await users.user_by_token(conn, token_hash(token))
    if row is None or not row.active:
        raise unauthenticated()
    return Principal(user_id=row.id, account_id=row.account_id, roles=frozenset(row.roles))
