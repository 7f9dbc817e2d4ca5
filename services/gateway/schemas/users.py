"""Users and accounts as the API shows them (shaped like FlexMeasures 0.27's user and account schemas), and
the query strings of their list routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import humanize
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.schemas.fields import Bool, Int, Page, PerPage, SearchTerms
from services.gateway.sql.accounts import AccountView
from services.gateway.sql.users import UserView

SortDir = Literal["asc", "desc"]


class UserListQuery(BaseModel):
    """Query string of ``GET /api/v3_0/users``. Unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    account_id: Int | None = Field(None, description="Only this account's users (default: every readable account).")
    include_inactive: Bool = Field(False, description="Also list inactive users.")
    page: Page | None = Field(None, description="Switches on the paginated response shape.")
    per_page: PerPage = Field(1, description="Page size (with page; FlexMeasures' default is 1).")
    filter: SearchTerms | None = Field(None, description="Every term must occur in the email, username or account.")
    sort_by: Literal["username", "email", "lastLogin", "lastSeen"] | None = Field(None, description="With sort_dir.")
    sort_dir: SortDir | None = Field(None, description="With sort_by.")


class AccountListQuery(BaseModel):
    """Query string of ``GET /api/v3_0/accounts``. Unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    page: Page | None = Field(None, description="Switches on the paginated response shape.")
    per_page: PerPage = Field(10, description="Page size (with page).")
    filter: SearchTerms | None = Field(
        None, description="The first term, split at spaces: keep accounts whose name contains any of its words."
    )
    sort_by: Literal["id", "name", "assets", "users"] | None = Field(None, description="With sort_dir.")
    sort_dir: SortDir | None = Field(None, description="With sort_by.")


class AccountRoleOut(BaseModel):
    id: int
    name: str


class AccountOut(BaseModel):
    """The account object (colours and logo are not stored by FlexStream: always null)."""

    id: int
    name: str
    account_roles: list[AccountRoleOut]
    consultancy_account_id: int | None
    primary_color: None
    secondary_color: None
    logo_url: None


class AccountPageItem(AccountOut):
    user_count: int
    asset_count: int


class AccountPage(BaseModel):
    data: list[AccountPageItem]
    num_records: int = Field(alias="num-records")
    filtered_records: int = Field(alias="filtered-records")
    status: int


class UserOut(BaseModel):
    """``GET /users/<id>``: roles as ids, login times as ISO 8601 (UTC, without offset, as FlexMeasures)."""

    id: int
    email: str
    username: str
    account_id: int
    active: bool
    timezone: str
    flexmeasures_roles: list[int]
    last_login_at: str | None
    last_seen_at: str | None


class UserListItem(BaseModel):
    """``GET /users``: roles as names, login times humanized (``"3 minutes ago"``, ``"never"``), the account."""

    id: int
    email: str
    username: str
    account_id: int
    active: bool
    timezone: str
    flexmeasures_roles: list[str]
    last_login_at: str
    last_seen_at: str
    account: AccountOut


class UserPage(BaseModel):
    data: list[UserListItem]
    num_records: int = Field(alias="num-records")
    filtered_records: int = Field(alias="filtered-records")
    status: int


def account_json(account: AccountView) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "account_roles": account.account_roles,
        "consultancy_account_id": account.consultancy_account_id,
        "primary_color": None,
        "secondary_color": None,
        "logo_url": None,
    }


def account_page_item(account: AccountView) -> dict[str, Any]:
    return {**account_json(account), "user_count": account.user_count, "asset_count": account.asset_count}


def _iso_utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def naturalized(moment: datetime | None, now: datetime, timezone: str) -> str:
    """FlexMeasures' human-friendly time: ``"never"``; within a day ``"3 minutes ago"``; else the date
    (``"yesterday"``, ``"Nov 02"``, ``"Jan 02 2025"``) in ``timezone``."""
    if moment is None:
        return "never"
    if moment >= now - timedelta(hours=24):
        return str(
            humanize.naturaltime(
                moment.astimezone(UTC).replace(tzinfo=None), when=now.astimezone(UTC).replace(tzinfo=None)
            )
        )
    return str(humanize.naturaldate(moment.astimezone(ZoneInfo(timezone)).date()))


def user_json(user: UserView) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "account_id": user.account_id,
        "active": user.active,
        "timezone": user.timezone,
        "flexmeasures_roles": user.role_ids,
        "last_login_at": _iso_utc(user.last_login_at),
        "last_seen_at": _iso_utc(user.last_seen_at),
    }


def user_list_item(user: UserView, account: AccountView, now: datetime, timezone: str) -> dict[str, Any]:
    return {
        **user_json(user),
        "flexmeasures_roles": user.role_names,
        "last_login_at": naturalized(user.last_login_at, now, timezone),
        "last_seen_at": naturalized(user.last_seen_at, now, timezone),
        "account": account_json(account),
    }
