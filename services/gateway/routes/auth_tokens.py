"""``POST /api/requestAuthToken`` (docs/api.md, "Authentication")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from services.gateway import auth
from services.gateway.http.openapi import ApiRoute, RouteDoc
from services.gateway.http.request_input import loads
from services.gateway.http.responses import ApiError, ok
from services.gateway.sql import users
from services.gateway.state import State

MAX_EMAIL = 255  # users.email


def _error(status_code: int, text: str) -> Response:
    return ok({"errors": [text]}, status_code, with_status=True)


async def request_auth_token(request: Request[State]) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(400, "Content-type of request must be application/json")
    try:
        body: Any = loads(await request.body() or b"null")
    except ApiError:
        return _error(400, "Content-type of request must be application/json")
    if not isinstance(body, dict) or "email" not in body:
        return _error(400, "Please provide the 'email' parameter.")
    email = body["email"]
    if not isinstance(email, str) or len(email) > MAX_EMAIL or "\x00" in email:
        return _error(400, "Please provide a valid 'email' parameter.")
    by_email, by_address = request.state["login_throttles"]
    email_key, address_key = email.strip().lower(), request.client.host if request.client else ""
    now = time.monotonic()
    waits = [w for w in (by_email.retry_after([email_key], now), by_address.retry_after([address_key], now)) if w]
    if waits:
        answer = _error(429, f"Too many failed login attempts. Please try again in {max(waits)} seconds.")
        answer.headers["Retry-After"] = str(max(waits))
        return answer
    answer = await _token_for(request, body, email)
    if answer.status_code in (401, 404):
        by_email.failed([email_key], now)
        by_address.failed([address_key], now)
    return answer


async def _token_for(request: Request[State], body: dict[str, Any], email: str) -> Response:
    settings = request.state["settings"]
    async with request.state["pool"].connection() as conn:
        user = await users.user_by_email(conn, email)
        if user is None:
            return _error(404, f"User with email '{email}' does not exist")
        already = await _authenticated_as(conn, request, user.id)
        if not already:
            if "password" not in body:
                return _error(400, "Please provide the 'password' parameter.")
            password = body["password"]
            # argon2 takes tens of milliseconds of CPU on purpose: off the event loop
            if not isinstance(password, str) or not await asyncio.to_thread(
                auth.verify_password, user.password_hash, password
            ):
                return _error(401, "User password does not match.")
        token = await auth.issue_token(conn, user.id, settings.token_max_age)
    return ok({"auth_token": token, "user_id": user.id}, with_status=True)


async def _authenticated_as(conn: Any, request: Request[State], user_id: int) -> bool:
    token = auth.token_from(request)
    if not token:
        return False
    row = await users.user_by_token(conn, auth.token_hash(token))
    return row is not None and row.active and row.id == user_id


class AuthTokenRequest(BaseModel):
    """Body of ``POST /api/requestAuthToken`` (documentation only: the handler keeps FlexMeasures' own checks)."""

    email: str
    password: str | None = Field(None, description="Not needed when already authenticated as that user.")


class AuthTokenResponse(BaseModel):
    auth_token: str
    user_id: int
    status: int


ROUTES = [
    ApiRoute(
        "/api/requestAuthToken", request_auth_token, methods=["POST"],
        doc=RouteDoc("Get an auth token", tag="auth", body=AuthTokenRequest, response=AuthTokenResponse,
                     errors=(400, 401, 404, 429), public=True),
    )
]  # fmt: skip
