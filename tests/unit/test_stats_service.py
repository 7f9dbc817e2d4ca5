"""The stats service's lag arithmetic and health body (services/stats/lag.py, app.py)."""

from __future__ import annotations

from services.stats.app import health_body
from services.stats.lag import lag_from


def test_lag_counts_from_the_committed_offset_or_the_first_retained_one() -> None:
    end = {0: 10, 1: 5, 2: 7, 3: 0}
    assert lag_from(end, {0: 10, 1: 2}, {}) == 0 + 3 + 7 + 0
    assert lag_from(end, {0: 10, 1: 2}, {2: 4}) == 0 + 3 + 3 + 0
    assert lag_from({0: 3}, {0: 5}, {}) == 0  # never negative


def test_health_names_what_is_down() -> None:
    assert health_body(0, True) == ({"service": "stats", "status": "ok", "kafka": "ok", "db": "ok", "lag": 0}, 200)
    assert health_body(None, True) == (
        {"service": "stats", "status": "degraded", "kafka": "down", "db": "ok", "lag": None}, 503
    )  # fmt: skip
    assert health_body(12, False)[0]["db"] == "down" and health_body(12, False)[1] == 503
