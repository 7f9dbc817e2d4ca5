"""Uploaded CSV files to one series at the sensor's resolution (docs/api.md, "Sensor data"). Pure.

A file has a header row and 2 columns (event start, value) or 3 (event start, belief time, value; the belief
time is ignored, as in FlexMeasures). Naive timestamps are local to the sensor's timezone. For sensors with a
resolution, finer input is averaged into the sensor's slots (aligned to local midnight) and coarser input is
repeated into them; values stay in the sensor's unit.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from shared.beliefs import MAX_MAGNITUDE

EXTENSIONS = ("csv", "xlsx", "xls", "xlsm")
CONTENT_TYPES = (
    "text/csv",
    "text/plain",
    "text/x-csv",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


class UploadError(ValueError):
    """A file's content cannot be used; the message says why (without the file name)."""


@dataclass(frozen=True)
class Series:
    event_starts: list[pd.Timestamp]  # UTC
    values: list[float | None]


def check_file(filename: str, content_type: str) -> list[str]:
    """What is wrong with a file part before its content is read (empty when nothing)."""
    problems = []
    extension = filename.rsplit(".", 1)[1] if "." in filename else ""
    if not filename:
        problems.append("Filename may not be empty.")
    elif extension.lower() not in EXTENSIONS or extension not in (extension.lower(), extension.upper()):
        problems.append(f"Invalid file extension: {extension or filename}. Allowed: {', '.join(EXTENSIONS)}.")
    if content_type.split(";")[0].strip().lower() not in CONTENT_TYPES:
        problems.append(f"Invalid content type: {content_type}. Allowed: {', '.join(CONTENT_TYPES)}.")
    return problems


def read_file(data: bytes, filename: str, timezone: str) -> pd.Series:
    """Values indexed by UTC event start (duplicates averaged, sorted), nulls kept as NaN."""
    if filename.rsplit(".", 1)[-1].lower() != "csv":
        raise UploadError("FlexStream reads CSV files only; export the spreadsheet as CSV.")
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UploadError(str(exc).strip()) from None
    if frame.shape[1] not in (2, 3):
        raise UploadError(f"Expected 2 or 3 columns (event start, [belief time,] value), found {frame.shape[1]}.")
    if frame.empty:
        raise UploadError("No rows after the header.")
    starts = _instants(frame.iloc[:, 0], timezone)
    cells = frame.iloc[:, -1].str.strip()
    try:
        values = pd.to_numeric(cells.mask(cells == ""), errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise UploadError(f"Non-numeric value: {exc}") from None
    except OverflowError:  # an integer with hundreds of digits
        raise UploadError(f"Values must be finite numbers of at most {MAX_MAGNITUDE:g} in magnitude.") from None
    with np.errstate(invalid="ignore"):  # empty cells (NaN) compare False
        if (np.abs(values.to_numpy()) > MAX_MAGNITUDE).any():
            raise UploadError(f"Values must be finite numbers of at most {MAX_MAGNITUDE:g} in magnitude.")
    series = pd.Series(values.to_numpy(), index=starts)
    return series.groupby(level=0).mean().sort_index()


def _instants(column: pd.Series, timezone: str) -> pd.DatetimeIndex:
    text = column.str.strip()
    try:
        parsed = pd.to_datetime(text, format="ISO8601")
    except ValueError:
        try:  # mixed UTC offsets (e.g. across a DST change)
            parsed = pd.to_datetime(text, format="ISO8601", utc=True)
        except ValueError as exc:
            raise UploadError(f"Invalid event start: {str(exc).splitlines()[0]}") from None
    index = pd.DatetimeIndex(parsed)
    try:
        if index.tz is None:
            index = index.tz_localize(timezone, ambiguous="infer", nonexistent="raise")
    except (ValueError, pd.errors.OutOfBoundsDatetime) as exc:  # ambiguous or non-existent local times
        raise UploadError(f"Cannot place the naive timestamps in {timezone}: {exc}") from None
    try:
        return index.tz_convert("UTC").as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        raise UploadError("Event starts must lie between 1677-09-22 and 2262-04-11.") from None


def inferred_resolution(index: pd.DatetimeIndex, default: timedelta) -> timedelta:
    """The smallest step between consecutive event starts (``default`` for a single row)."""
    if len(index) < 2:
        return default
    step: timedelta = pd.Timedelta(np.diff(index.asi8).min(), unit="ns").to_pytimedelta()
    return step


def to_resolution(series: pd.Series, resolution: timedelta, timezone: str) -> pd.Series:
    """Resample to the sensor resolution: mean of finer events, copies for coarser ones; instantaneous as is."""
    if resolution <= timedelta(0) or series.empty:
        return series
    step = inferred_resolution(pd.DatetimeIndex(series.index), resolution)
    if step == resolution:
        return series
    if step < resolution:
        local = series.tz_convert(timezone)
        means = local.resample(pd.Timedelta(resolution), origin="start_day").mean()
        present = local.resample(pd.Timedelta(resolution), origin="start_day").count() > 0
        return means[present].tz_convert("UTC")
    if step % resolution:
        raise UploadError(
            f"Resolution of {step} is incompatible with the sensor's required resolution of {resolution}."
        )
    repeat = step // resolution
    offsets = np.tile(np.arange(repeat) * pd.Timedelta(resolution).value, len(series))
    starts = np.repeat(series.index.asi8, repeat) + offsets
    return pd.Series(np.repeat(series.to_numpy(), repeat), index=pd.to_datetime(starts, utc=True))


def combine(files: Sequence[pd.Series]) -> Series:
    """One series from several files; where files overlap, the later file wins."""
    merged = pd.concat(files)
    merged = merged[~merged.index.duplicated(keep="last")].sort_index()
    values = [None if np.isnan(v) else float(v) for v in merged.to_numpy()]
    return Series(list(pd.DatetimeIndex(merged.index)), values)
