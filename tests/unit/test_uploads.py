"""CSV parsing and resampling of uploads (docs/api.md, "Sensor data")."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from services.gateway.rules.csv_uploads import UploadError, check_file, combine, read_file, to_resolution


def test_naive_timestamps_are_local_to_the_sensor() -> None:
    series = read_file(b"when,value\n2025-07-01T12:00:00,1.5\n", "a.csv", "Europe/Amsterdam")
    assert list(series.index) == [pd.Timestamp("2025-07-01T10:00:00Z")]
    assert list(series) == [1.5]


def test_three_columns_ignore_the_belief_time_and_empty_cells_are_nulls() -> None:
    series = read_file(b"s,b,v\n2025-01-01T00:00:00Z,x,\n2025-01-01T00:15:00Z,x,2\n", "a.csv", "UTC")
    assert series.isna().tolist() == [True, False]


def test_finer_input_is_averaged_and_coarser_input_repeated() -> None:
    fine = read_file(b"s,v\n" + b"".join(f"2025-01-01T00:{m:02d}:00Z,{m}\n".encode() for m in range(0, 30, 5)),
                     "f.csv", "UTC")  # fmt: skip
    assert to_resolution(fine, timedelta(minutes=15), "UTC").tolist() == [5.0, 20.0]
    coarse = read_file(b"s,v\n2025-01-01T00:00:00Z,1\n2025-01-01T01:00:00Z,2\n", "c.csv", "UTC")
    resampled = to_resolution(coarse, timedelta(minutes=30), "UTC")
    assert resampled.tolist() == [1.0, 1.0, 2.0, 2.0]
    assert resampled.index[1] == pd.Timestamp("2025-01-01T00:30:00Z")
    with pytest.raises(UploadError, match="incompatible"):
        to_resolution(coarse, timedelta(minutes=25), "UTC")


def test_later_files_win_where_they_overlap() -> None:
    first = read_file(b"s,v\n2025-01-01T00:00:00Z,1\n2025-01-01T00:15:00Z,2\n", "a.csv", "UTC")
    second = read_file(b"s,v\n2025-01-01T00:15:00Z,3\n", "b.csv", "UTC")
    combined = combine([first, second])
    assert combined.values == [1.0, 3.0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"s,v\n2025-01-01T00:00:00Z,abc\n", "Non-numeric value"),
        (b"s\n2025-01-01T00:00:00Z\n", "Expected 2 or 3 columns"),
        (b"s,v\nyesterday,1\n", "Invalid event start"),
        (b"s,v\n", "No rows"),
    ],
)
def test_bad_content(content: bytes, problem: str) -> None:
    with pytest.raises(UploadError, match=problem):
        read_file(content, "x.csv", "UTC")


def test_file_checks() -> None:
    assert check_file("a.csv", "text/csv") == []
    assert check_file("A.CSV", "text/plain; charset=utf-8") == []
    assert len(check_file("a.Csv", "application/json")) == 2
    assert check_file("", "text/csv") == ["Filename may not be empty."]
    with pytest.raises(UploadError, match="CSV files only"):
        read_file(b"", "a.xlsx", "UTC")
