"""Chunking of CSV files for ``flexstream upload``: cuts only between dates, never loses a row."""

from __future__ import annotations

from pathlib import Path

from services.gateway.cli.upload import chunks, count_rows


def test_chunks_end_between_dates(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    rows = [f"2025-01-0{day}T{hour:02d}:00:00,{hour}\n" for day in (1, 2, 3) for hour in range(4)]
    path.write_text("start,value\n" + "".join(rows) + "\n")
    parts = list(chunks(path, 3))
    assert [part.rows for part in parts] == [4, 4, 4]  # 3 rows, rounded up to the end of the day
    assert all(part.content.startswith(b"start,value\n") for part in parts)
    assert b"".join(part.content.split(b"\n", 1)[1] for part in parts).decode() == "".join(rows)
    assert count_rows(path) == 12
    assert [part.rows for part in chunks(path, 100)] == [12]
