"""The session options every pooled connection gets (shared/db.py)."""

from __future__ import annotations

from shared import db


def test_the_plan_cache_mode_joins_what_the_url_sets() -> None:
    assert db.session_options("postgresql://u@h/d") == "-c plan_cache_mode=force_custom_plan"
    url = "postgresql://u@h/d?options=-c%20search_path%3Dflex"
    assert db.session_options(url) == "-c search_path=flex -c plan_cache_mode=force_custom_plan"
