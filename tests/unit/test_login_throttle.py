"""requestAuthToken's throttle: per key, ``limit`` failures in a sliding window, then 429 until one leaves it."""

from __future__ import annotations

from services.gateway.rules.login_throttle import LoginThrottle


def test_failures_beyond_the_limit_are_refused_until_the_window_passes() -> None:
    throttle = LoginThrottle(limit=3, window=60)
    keys = ["email:a@example.com", "address:10.0.0.1"]
    for second in range(3):
        assert throttle.retry_after(keys, now=second) is None
        throttle.failed(keys, now=second)
    assert throttle.retry_after(keys, now=10) == 50  # the first failure (t=0) leaves the window at t=60
    assert throttle.retry_after(["email:b@example.com"], now=10) is None  # another e-mail, another address
    assert throttle.retry_after(["email:b@example.com", "address:10.0.0.1"], now=10) == 50  # same address
    assert throttle.retry_after(keys, now=60) is None  # one failure left the window: one more try


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(limit=2, window=60, max_keys=10)
    for i in range(1000):
        throttle.failed([f"email:{i}"], now=0)
    assert len(throttle._failures) == 10
