"""The gateway's PostgreSQL listener hands each announcement to its subscriber; one that fails on an announcement
does not stop it (the connection itself is tested against the real database in ``tests/integration``)."""

from __future__ import annotations

import pytest

from services.gateway.workers.listener import _hand


class Failing:
    channel = "flexstream_test"

    def __init__(self) -> None:
        self.payloads: list[str] = []

    def notified(self, payload: str) -> None:
        self.payloads.append(payload)
        raise RuntimeError("cannot take it")

    def up(self) -> None:
        pass

    def lost(self) -> None:
        pass


def test_a_subscriber_failing_on_an_announcement_is_logged_and_the_next_is_handed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscriber = Failing()
    _hand(subscriber, "first")
    _hand(subscriber, "second")
    assert subscriber.payloads == ["first", "second"]
    assert "an announcement could not be handed on" in caplog.text
