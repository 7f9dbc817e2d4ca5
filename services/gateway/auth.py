"""Passwords (argon2) and opaque auth tokens (stored as SHA-256 with an expiry).

A token is read from the ``Authorization`` header (the raw token, as FlexMeasures; a ``Bearer `` prefix
is accepted too) or from the ``auth_token`` query parameter; the header wins.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection
from starlette.requests import Request

from services.gateway.permissions import Principal
from services.gateway.responses import unauthenticated
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


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header.removeprefix("Bearer ").strip() or None
    return request.query_params.get("auth_token") or None


class PrincipalCache:
    """Tokens verified in the last ``ttl`` seconds → their principal, so a busy client costs one token query
    per ``ttl`` instead of one per request. A revoked or expired token, or a deactivated user, is therefore
    refused at most ``ttl`` later (``FLEXSTREAM_AUTH_CACHE_TTL``; zero turns the cache off)."""

    def __init__(self, ttl: timedelta, max_entries: int = 10_000) -> None:
        self.ttl = ttl.total_seconds()
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    def get(self, key: bytes) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: bytes, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl, principal)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def principal_for(conn: AsyncConnection[Any], token: str | None) -> Principal:
    """The active user the token belongs to, or E2 (401)."""
    if not token:
        raise unauthenticated()
    row = await users.user_by_token(conn, token_hash(token))
    if row is None or not row.active:
        raise unauthenticated()
    return Principal(user_id=row.id, account_id=row.account_id, roles=frozenset(row.roles))
