"""The one place that decides "may user U do action A on object O" (FlexMeasures 0.27's roles;
docs/api.md, "Sensors"). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["read", "create-children", "update", "delete"]
Kind = Literal["account", "asset", "sensor", "user"]


@dataclass(frozen=True)
class Principal:
    """The authenticated user as the rules see them."""

    user_id: int
    account_id: int
    roles: frozenset[str]


@dataclass(frozen=True)
class Owner:
    """Who owns an object: its account (None = public asset/sensor) and that account's consultancy."""

    account_id: int | None
    consultancy_account_id: int | None = None
    user_id: int | None = None  # for kind "user": the user itself


def may(user: Principal, action: Action, kind: Kind, owner: Owner) -> bool:
    if "admin" in user.roles:
        return True
    if action == "read" and "admin-reader" in user.roles:
        return True
    if owner.account_id is None:  # public asset or a sensor on one
        return action == "read" and kind in ("asset", "sensor")
    member = user.account_id == owner.account_id
    account_admin = member and "account-admin" in user.roles
    consultant = "consultant" in user.roles and owner.consultancy_account_id == user.account_id
    if kind == "user":
        if action == "read":
            return member
        if action == "update":
            return owner.user_id == user.user_id or account_admin or consultant
        return False
    if action == "read":
        return member or consultant
    if kind == "account":
        if action == "create-children":
            return account_admin or consultant
        return action == "update" and (member or consultant)
    if action == "create-children":
        return member or consultant
    if action == "update" and kind == "asset":
        return member or consultant
    return account_admin or consultant  # update/delete of a sensor, delete of an asset
