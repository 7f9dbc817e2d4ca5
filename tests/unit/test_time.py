from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.time import (
    DatetimeError,
    DurationError,
    format_duration_days,
    format_duration_hours,
    format_instant,
    parse_aware_datetime,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT1H20M", timedelta(hours=1, minutes=20)),
        ("P1D", timedelta(days=1)),
        ("P2DT3H", timedelta(days=2, hours=3)),
        ("P1W", timedelta(weeks=1)),
        ("-PT10M", timedelta(minutes=-10)),
        ("PT0H", timedelta(0)),
        ("PT120S", timedelta(minutes=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["PT30S", "PT1M0.5S"])
def test_durations_must_be_whole_minutes(text: str) -> None:
    with pytest.raises(DurationError, match="FlexMeasures only support multiples of 1 minute."):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "garbage", "", "P", "PT"])
def test_unparsable_durations(text: str) -> None:
    with pytest.raises(DurationError, match=f"Cannot parse {text} as ISO8601 duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1M", "months and years are not supported."),
        ("P0Y", "months and years are not supported."),  # isodate reads it as zero
        ("P1YT1H", "months and years are not supported."),
        ("P1Y+5", "months and years are not supported."),
        ("PT", "not a valid ISO 8601 duration."),  # isodate reads it as zero
        ("P1DT", "not a valid ISO 8601 duration."),
        ("P0003-06-04T12:30:05", "not a valid ISO 8601 duration."),  # isodate's alternative format
        ("PT-1H", "not a valid ISO 8601 duration."),
        ("pt15m", "not a valid ISO 8601 duration."),
    ],
)
def test_duration_errors_keep_their_texts(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert str(raised.value) == f"Cannot parse {text} as ISO8601 duration: {reason}"


def test_format_durations() -> None:
    durations: tuple[dict[str, int], ...] = ({"minutes": 15}, {"hours": 1}, {"days": 1}, {"hours": 25}, {})
    assert [format_duration_days(timedelta(**kw)) for kw in durations] == [
        "PT15M", "PT1H", "P1D", "P1DT1H", "P0D",
    ]  # fmt: skip
    assert [format_duration_hours(timedelta(**kw)) for kw in ({"minutes": 15}, {"hours": 48}, {"minutes": 80}, {})] == [
        "PT15M", "PT48H", "PT1H20M", "PT0H",
    ]  # fmt: skip
    assert format_duration_hours(timedelta(minutes=-10)) == "PT10M"  # sign dropped


def test_parse_aware_datetime() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert parse_aware_datetime("2024-02-05T08:00:00+01:00") == datetime(2024, 2, 5, 8, tzinfo=plus_one)
    assert parse_aware_datetime("2024-02-05T08:00+01:00") == datetime(2024, 2, 5, 8, tzinfo=plus_one)
    assert parse_aware_datetime("2024-02-05T07:00:00Z") == datetime(2024, 2, 5, 7, tzinfo=UTC)
    assert parse_aware_datetime("2024-02-05T08:00:00 01:00") == datetime(2024, 2, 5, 8, tzinfo=plus_one)  # un-encoded +


@pytest.mark.parametrize(
    ("text", "message"),
    [("2024-02-05T08:00:00", "Not a valid aware datetime."), ("yesterday", "Not a valid datetime."),
     ("2024-02-05 08:00:00+01:00", "Not a valid datetime.")],
)  # fmt: skip
def test_parse_aware_datetime_errors(text: str, message: str) -> None:
    with pytest.raises(DatetimeError, match=message):
        parse_aware_datetime(text)


def test_format_instant_drops_fractions_and_keeps_offset() -> None:
    assert format_instant(datetime(2024, 3, 1, 0, 0, 0, 500, tzinfo=UTC)) == "2024-03-01T00:00:00+00:00"
    assert format_instant(datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=1)))) == "2024-03-01T00:00:00+01:00"
