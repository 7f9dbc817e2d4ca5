"""ISO 8601 datetimes and durations the way FlexMeasures reads and writes them (FlexMeasures 0.27 behaviour)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

import isodate


class DurationError(ValueError):
    """The text is not an ISO 8601 duration FlexStream accepts; the message is the client-facing text."""


class DatetimeError(ValueError):
    """The text is not an aware ISO 8601 datetime; the message is the client-facing text."""


def parse_duration(text: str, *, whole_minutes: bool = True) -> timedelta:
    """``PT15M``, ``P1D``, ``-PT10M``, ``P1W`` → timedelta. Days and weeks are absolute (24 h, 7 days).

    Months and years are refused (they have no fixed length). With ``whole_minutes`` (the default, as
    FlexMeasures) a duration with a seconds part that is not a whole minute is refused.
    """
    value = _known_duration(text) if type(text) is str else _iso_duration(text)
    if whole_minutes and (value.microseconds or value.seconds % 60):
        raise DurationError("FlexMeasures only support multiples of 1 minute.")
    return value


@lru_cache(maxsize=1024)
def _known_duration(text: str) -> timedelta:
    """``_iso_duration`` of a text read before: clients send the same few durations (``PT24H``, ``PT0H``) with
    every request. A refused text is not kept (its error is raised again each time)."""
    return _iso_duration(text)


def _iso_duration(text: str) -> timedelta:
    """isodate's reading, narrowed to what FlexMeasures accepts: no years or months (they have no fixed length),
    no dangling ``T`` (isodate reads ``PT`` as zero), no alternative format (``P0003-06-04T12:30:05``)."""
    if not isinstance(text, str):
        raise DurationError(f"Cannot parse {text} as ISO8601 duration: not a valid ISO 8601 duration.")
    cleaned = text.strip()
    unsigned = cleaned[1:] if cleaned[:1] in ("+", "-") else cleaned
    date_part = unsigned[1:].partition("T")[0] if unsigned.startswith("P") else ""
    if any(digit.isdigit() and unit in "YM" for digit, unit in zip(date_part, date_part[1:], strict=False)):
        raise DurationError(f"Cannot parse {text} as ISO8601 duration: months and years are not supported.")
    try:
        if cleaned.endswith("T") or "-" in unsigned or ":" in unsigned:
            raise isodate.ISO8601Error("not FlexMeasures' form")
        value = isodate.parse_duration(cleaned)
        if not isinstance(value, timedelta):  # an isodate.Duration (years, months, alternative format)
            raise isodate.ISO8601Error("not FlexMeasures' form")
    except (isodate.ISO8601Error, ValueError):
        raise DurationError(f"Cannot parse {text} as ISO8601 duration: not a valid ISO 8601 duration.") from None
    except OverflowError:  # more than 999,999,999 days
        raise DurationError(f"Cannot parse {text} as ISO8601 duration: it is too long.") from None
    return value


def format_duration_days(value: timedelta) -> str:
    """The sensor ``event_resolution`` style: ``PT15M``, ``PT1H``, ``P1D``, ``P1DT1H``; zero ``P0D``; sign dropped."""
    value = abs(value)
    if not value:
        return "P0D"
    days, rest = value.days, value.seconds
    out = f"P{days}D" if days else "P"
    time_part = _hms(rest, value.microseconds)
    return out + (f"T{time_part}" if time_part else "")


def format_duration_hours(value: timedelta) -> str:
    """The data/schedule ``duration`` style: hours only (``PT48H``, ``PT1H20M``); zero is ``PT0H``; sign dropped."""
    value = abs(value)
    if not value:
        return "PT0H"
    return "PT" + _hms(value.days * 86400 + value.seconds, value.microseconds)


def _hms(seconds: int, microseconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{hours}H" if hours else ""
    out += f"{minutes}M" if minutes else ""
    if secs or microseconds:
        out += f"{secs}.{microseconds:06d}".rstrip("0").rstrip(".") + "S"
    return out


def parse_aware_datetime(text: str) -> datetime:
    """An ISO 8601 datetime with a UTC offset or ``Z``. Spaces become ``+`` first (un-encoded query strings)."""
    if not isinstance(text, str):
        raise DatetimeError("Not a valid datetime.")
    candidate = text.strip().replace(" ", "+")
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise DatetimeError("Not a valid datetime.") from None
    if "T" not in candidate and len(candidate) > 10:
        raise DatetimeError("Not a valid datetime.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise DatetimeError("Not a valid aware datetime.")
    return value


def format_instant(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS±HH:MM`` in the value's own offset, no fractional seconds (UTC as ``+00:00``)."""
    return value.replace(microsecond=0).isoformat()
