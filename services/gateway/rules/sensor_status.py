"""The staleness rules of ``GET /sensors/<id>/status`` (docs/api.md, "Sensor status"), as pure functions
of the latest event per source type and an explicit ``now``, in FlexMeasures' English (``humanize``).

Per source type, ``latest`` holds the start of the most recent event among the beliefs formed by now.
Scheduler and forecaster sources are judged by their future data (events starting after now); the others
by the knowledge time of their most recent event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from humanize import naturaldelta, precisedelta

from shared.errors import InvalidStatusSpecs
from shared.time import DatetimeError, DurationError, parse_aware_datetime, parse_duration

SOURCE_TYPES = ("demo script", "user", "forecaster", "scheduler", "reporter")  # others are ignored
FUTURE_TYPES = frozenset({"scheduler", "forecaster"})
DEFAULT_MAX_FUTURE_STALENESS = timedelta(hours=-12)  # forecasts/schedules should reach 12 h ahead


@dataclass(frozen=True)
class StatusSpec:
    max_staleness: timedelta
    max_future_staleness: timedelta
    staleness_search: dict[str, Any]


@dataclass(frozen=True)
class Status:
    source_type: str | None
    staleness: timedelta | None  # |now - reference|
    stale: bool
    staleness_since: datetime | None  # the reference time
    reason: str


def _duration(specs: Mapping[str, Any], key: str, default: timedelta | None) -> timedelta:
    if key not in specs and default is not None:
        return default
    value = specs.get(key)
    if not isinstance(value, str):
        raise InvalidStatusSpecs(f"status_specs needs an ISO 8601 duration under '{key}'.")
    try:
        return parse_duration(value, whole_minutes=False)
    except DurationError as exc:
        raise InvalidStatusSpecs(f"status_specs '{key}': {exc}") from None


def status_spec(attributes: Mapping[str, Any], knowledge_horizon_fnc: str, resolution: timedelta) -> StatusSpec:
    """The sensor's ``status_specs`` attribute when it has one, else the defaults: max staleness one day for
    sensors whose knowledge horizon is "x days ago at y o'clock" (day-ahead prices), otherwise two
    resolutions; max future staleness -12 h."""
    specs = attributes.get("status_specs")
    if specs:
        if not isinstance(specs, dict):
            raise InvalidStatusSpecs("status_specs must be an object.")
        search = specs.get("staleness_search", {})
        if not isinstance(search, dict):
            raise InvalidStatusSpecs("status_specs 'staleness_search' must be an object.")
        return StatusSpec(
            _duration(specs, "max_staleness", None),
            _duration(specs, "max_future_staleness", DEFAULT_MAX_FUTURE_STALENESS),
            search,
        )
    daily = knowledge_horizon_fnc == "x_days_ago_at_y_oclock"
    return StatusSpec(timedelta(days=1) if daily else 2 * resolution, DEFAULT_MAX_FUTURE_STALENESS, {})


def _horizon(par: Mapping[str, Any], key: str) -> timedelta:
    return parse_duration(str(par.get(key, "PT0H")), whole_minutes=False)


def knowledge_time(event_start: datetime, resolution: timedelta, fnc: str, par: Mapping[str, Any]) -> datetime:
    """When the event could be known, by the sensor's knowledge-horizon function (docs/api.md)."""
    try:
        if fnc == "ex_post":
            return (
                event_start + resolution + parse_duration(str(par.get("ex_post_horizon", "PT0H")), whole_minutes=False)
            )
        if fnc == "ex_ante":
            return event_start - parse_duration(str(par.get("ex_ante_horizon", "PT0H")), whole_minutes=False)
        if fnc == "at_date":
            return parse_aware_datetime(str(par["knowledge_time"]))
        if fnc == "x_days_ago_at_y_oclock":
            zone = ZoneInfo(str(par.get("z", "UTC")))
            local = event_start.astimezone(zone)
            day = local.date() - timedelta(days=int(par["x"]))
            hours = timedelta(hours=float(par["y"]))
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            return (midnight + hours).astimezone(event_start.tzinfo)
    except (KeyError, ValueError, TypeError, DurationError, DatetimeError, ZoneInfoNotFoundError) as exc:
        raise InvalidStatusSpecs(f"knowledge horizon parameters of {fnc} cannot be read: {exc}") from None
    raise InvalidStatusSpecs(f"unknown knowledge horizon function {fnc}")


def _judged(source_type: str, reference: datetime, spec: StatusSpec, now: datetime) -> Status:
    delta = now - reference
    past = delta > timedelta(0)
    limit = spec.max_staleness if past else spec.max_future_staleness
    stale = delta > limit
    if past:
        timeline, part = "old", "but should not be more" if stale else "which is not more"
    else:
        timeline, part = "in the future", "but should be more" if stale else "which is not less"
    reason = f"most recent data is {precisedelta(abs(delta))} {timeline}, {part} than {precisedelta(limit)} {timeline}"
    return Status(source_type, abs(delta), stale, reference, reason)


def statuses(
    latest: Mapping[str, datetime],
    spec: StatusSpec,
    now: datetime,
    knowledge_time_of: Callable[[datetime], datetime],
) -> list[Status]:
    """One status per source type with data (in ``SOURCE_TYPES`` order), or one ``no data recorded``."""
    out = []
    for source_type in SOURCE_TYPES:
        last_start = latest.get(source_type)
        if last_start is None:
            continue
        if source_type in FUTURE_TYPES:
            if last_start <= now:
                reason = "Found no future data which this source should have"
                out.append(Status(source_type, None, True, last_start, reason))
                continue
            out.append(_judged(source_type, last_start, spec, now))
        else:
            out.append(_judged(source_type, knowledge_time_of(last_start), spec, now))
    return out or [Status(None, None, True, None, "no data recorded")]


def relation(sensor_id: int, flex_context: Mapping[str, Any]) -> str:
    """How the sensor relates to its own asset: it belongs to it, and may appear in its flex-context."""
    relations = ["sensor belongs to this asset"]
    inflexible = flex_context.get("inflexible-device-sensors")
    if isinstance(inflexible, list) and sensor_id in inflexible:
        relations.append("flex context (inflexible device)")
    for name, value in flex_context.items():
        if name != "inflexible-device-sensors" and isinstance(value, dict) and value.get("sensor") == sensor_id:
            relations.append(f"flex context ({name})")
    return ";".join(relations)


def humanized_resolution(resolution: timedelta) -> str:
    return naturaldelta(resolution)


def entry(
    status: Status, *, sensor_id: int, name: str, resolution: timedelta, asset_name: str, relation: str, tz: ZoneInfo
) -> dict[str, Any]:
    """One element of ``sensors_data``."""
    since = status.staleness_since
    return {
        "staleness": naturaldelta(status.staleness) if status.staleness is not None else None,
        "stale": status.stale,
        "staleness_since": str(since.astimezone(tz)) if since is not None else None,
        "reason": status.reason,
        "source_type": status.source_type,
        "id": sensor_id,
        "name": name,
        "resolution": humanized_resolution(resolution),
        "asset_name": asset_name,
        "relation": relation,
    }
