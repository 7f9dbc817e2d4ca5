from datetime import timedelta

import pytest

from services.gateway.cache import TtlCache
from services.gateway.rules.permissions import Principal

ALICE = Principal(user_id=1, account_id=1, roles=frozenset())
BOB = Principal(user_id=2, account_id=1, roles=frozenset({"admin"}))


def test_a_verified_token_is_trusted_until_the_ttl_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("services.gateway.cache.time.monotonic", lambda: now[0])
    cache = TtlCache[bytes, Principal](timedelta(seconds=5))
    cache.put(b"a", ALICE)
    now[0] += 4.9
    assert cache.get(b"a") == ALICE
    now[0] += 0.2
    assert cache.get(b"a") is None


def test_zero_ttl_turns_the_cache_off() -> None:
    cache = TtlCache[bytes, Principal](timedelta(0))
    cache.put(b"a", ALICE)
    assert cache.get(b"a") is None


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = TtlCache[bytes, Principal](timedelta(seconds=60), max_entries=2)
    cache.put(b"a", ALICE)
    cache.put(b"b", BOB)
    cache.put(b"c", ALICE)
    assert (cache.get(b"a"), cache.get(b"b"), cache.get(b"c")) == (None, BOB, ALICE)
