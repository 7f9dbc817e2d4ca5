"""permissions.may against every cell of FlexMeasures 0.27's permission table (docs/api.md, "Sensors")."""

from __future__ import annotations

import pytest

from services.gateway.rules.permissions import Action, Kind, Owner, Principal, may

A, B, C = 1, 2, 3  # account A is consulted by C; B is unrelated
OWNED = Owner(account_id=A, consultancy_account_id=C)
PUBLIC = Owner(account_id=None)

USERS = {
    "member": Principal(10, A, frozenset()),
    "account-admin": Principal(11, A, frozenset({"account-admin"})),
    "consultant": Principal(12, C, frozenset({"consultant"})),
    "consultancy member": Principal(13, C, frozenset()),  # in C, but without the consultant role
    "other consultant": Principal(14, B, frozenset({"consultant"})),
    "other account-admin": Principal(15, B, frozenset({"account-admin"})),
    "admin": Principal(16, B, frozenset({"admin"})),
    "admin-reader": Principal(17, B, frozenset({"admin-reader"})),
}

# (kind, action) -> who is allowed on an object owned by account A (admin always is)
OWNED_RULES: dict[tuple[Kind, Action], set[str]] = {
    ("account", "read"): {"member", "account-admin", "consultant", "admin", "admin-reader"},
    ("account", "create-children"): {"account-admin", "consultant", "admin"},
    ("account", "update"): {"member", "account-admin", "consultant", "admin"},
    ("account", "delete"): {"admin"},  # CLI only
    ("asset", "read"): {"member", "account-admin", "consultant", "admin", "admin-reader"},
    ("asset", "create-children"): {"member", "account-admin", "consultant", "admin"},
    ("asset", "update"): {"member", "account-admin", "consultant", "admin"},
    ("asset", "delete"): {"account-admin", "consultant", "admin"},
    ("sensor", "read"): {"member", "account-admin", "consultant", "admin", "admin-reader"},
    ("sensor", "create-children"): {"member", "account-admin", "consultant", "admin"},
    ("sensor", "update"): {"account-admin", "consultant", "admin"},
    ("sensor", "delete"): {"account-admin", "consultant", "admin"},
}

PUBLIC_RULES: dict[Action, set[str]] = {
    "read": set(USERS),  # every logged-in user
    "create-children": {"admin"},
    "update": {"admin"},
    "delete": {"admin"},
}


@pytest.mark.parametrize(("kind", "action"), list(OWNED_RULES))
@pytest.mark.parametrize("who", list(USERS))
def test_objects_owned_by_an_account(kind: Kind, action: Action, who: str) -> None:
    assert may(USERS[who], action, kind, OWNED) == (who in OWNED_RULES[kind, action])


@pytest.mark.parametrize("kind", ["asset", "sensor"])
@pytest.mark.parametrize("action", list(PUBLIC_RULES))
@pytest.mark.parametrize("who", list(USERS))
def test_public_assets_and_their_sensors(kind: Kind, action: Action, who: str) -> None:
    assert may(USERS[who], action, kind, PUBLIC) == (who in PUBLIC_RULES[action])


@pytest.mark.parametrize(
    ("who", "action", "allowed"),
    [
        ("member", "read", True),  # members of U's account
        ("account-admin", "read", True),
        ("other account-admin", "read", False),
        ("consultant", "read", False),  # FlexMeasures lets only members read users
        ("admin-reader", "read", True),
        ("member", "update", True),  # U itself
        ("account-admin", "update", True),
        ("consultant", "update", True),
        ("consultancy member", "update", False),
        ("other account-admin", "update", False),
        ("admin", "update", True),
        ("account-admin", "delete", False),
        ("account-admin", "create-children", False),
    ],
)
def test_users(who: str, action: Action, allowed: bool) -> None:
    target = Owner(account_id=A, consultancy_account_id=C, user_id=10)  # the user "member"
    assert may(USERS[who], action, "user", target) is allowed


def test_a_plain_member_may_update_only_themselves() -> None:
    other_member = Owner(account_id=A, consultancy_account_id=C, user_id=99)
    assert not may(USERS["member"], "update", "user", other_member)


def test_consultant_of_another_account_gets_nothing() -> None:
    unrelated = Owner(account_id=A, consultancy_account_id=B)  # consulted by B, not by C
    actions: tuple[Action, ...] = ("read", "create-children", "update", "delete")
    for action in actions:
        assert not may(USERS["consultant"], action, "sensor", unrelated)
    assert may(USERS["other consultant"], "update", "sensor", unrelated)
