"""``GET /sensors/<id>/stats`` as pure functions: reading its query leniently and rendering the
aggregates of each data source the way FlexMeasures does (docs/api.md, "Sensor stats")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from services.gateway.sql.stats import SourceStats

# marshmallow's Boolean field: what counts as true and false
_TRUE = frozenset({"t", "true", "on", "y", "yes", "1"})
_FALSE = frozenset({"f", "false", "off", "n", "no", "0"})


class QueryError(ValueError):
    """A query parameter cannot be read: ``field`` and the client-facing ``message``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StatsQuery:
    start: datetime | None
    end: datetime | None
    sort: bool


def lenient_datetime(field: str, text: str | None) -> datetime | None:
    """Whatever pandas parses as a datetime; a naive one is UTC. Empty or absent means no bound."""
    if text is None or not text.strip():
        return None
    try:
        value = pd.Timestamp(text.strip())
    except (ValueError, TypeError, OverflowError):
        raise QueryError(field, f"Not a valid datetime: {text!r}.") from None
    if value is pd.NaT:
        raise QueryError(field, f"Not a valid datetime: {text!r}.")
    if value.tzinfo is None:
        value = value.tz_localize(UTC)
    return datetime.fromisoformat(value.floor("us").isoformat())


def parse_query(params: dict[str, str]) -> StatsQuery:
    sort_text = params.get("sort", "true").strip().lower()
    if sort_text not in _TRUE | _FALSE:
        raise QueryError("sort", "Not a valid boolean.")
    return StatsQuery(
        lenient_datetime("event_start_time", params.get("event_start_time")),
        lenient_datetime("event_end_time", params.get("event_end_time")),
        sort_text in _TRUE,
    )


def source_description(name: str, source_type: str, model: str | None, version: str | None) -> str:
    """``name``, or ``"<name>'s <model> <type>[ v<version>]"`` (``model`` instead of the type when the
    model's name already contains it)."""
    if not model:
        return name
    kind = "model" if source_type.lower() in model.lower() else source_type
    return f"{name}'s {model} {kind}" + (f" v{version}" if version else "")


def source_values(stats: SourceStats, resolution: timedelta, tz: ZoneInfo) -> list[tuple[str, Any]]:
    """The statistics of one source, in FlexMeasures' order."""
    return [
        ("First event start", stats.first_event_start.astimezone(tz).isoformat()),
        ("Last event end", (stats.last_event_start + resolution).astimezone(tz).isoformat()),
        ("Last recorded", stats.last_belief_time.astimezone(tz).isoformat()),
        ("Min value", float(stats.min)),
        ("Max value", float(stats.max)),
        ("Mean value", float(stats.sum / stats.count)),
        ("Sum over values", float(stats.sum)),
        ("Number of values", int(stats.count)),
    ]


def answer(rows: list[SourceStats], resolution: timedelta, timezone: str, *, sort: bool) -> dict[str, Any]:
    """The body (without ``status``): per source, an object, or with ``sort=false`` a list of pairs."""
    tz = ZoneInfo(timezone)
    body: dict[str, Any] = {}
    for row in rows:
        values = source_values(row, resolution, tz)
        key = f"{source_description(row.name, row.type, row.model, row.version)} (ID: {row.source_id})"
        body[key] = dict(values) if sort else [list(pair) for pair in values]
    return body
