"""``flexstream upload``: send CSV files to a sensor through the HTTP API, with a progress bar.

Each file is sent in chunks of about ``--chunk-rows`` rows (each chunk a multipart upload with the file's header
row). A chunk only ends where the date part of the event-start column changes, so resampling to the sensor's
resolution never has to combine rows from two chunks (true for any sensor resolution that divides a day).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer


@dataclass(frozen=True)
class Chunk:
    name: str
    content: bytes
    rows: int


def chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """The file as header + row slices of about ``chunk_rows`` rows, cut only between two dates."""
    header, *rows = path.read_bytes().splitlines(keepends=True)
    rows = [row for row in rows if row.strip()]
    start = 0
    while start < len(rows):
        end = min(start + max(chunk_rows, 1), len(rows))
        while end < len(rows) and rows[end][:10] == rows[end - 1][:10]:
            end += 1
        yield Chunk(path.name, header + b"".join(rows[start:end]), end - start)
        start = end


def count_rows(path: Path) -> int:
    return max(sum(1 for line in path.read_bytes().splitlines() if line.strip()) - 1, 0)


FILES = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV files to send.")


def upload(
    files: list[Path] = FILES,
    sensor: int = typer.Option(..., "--sensor", "-s", help="Sensor id."),
    url: str = typer.Option("http://127.0.0.1:8000", envvar="FLEXSTREAM_URL", help="Gateway base URL."),
    token: str = typer.Option(..., envvar="FLEXSTREAM_TOKEN", help="Auth token (see `flexstream issue-token`)."),
    chunk_rows: int = typer.Option(50_000, help="Rows per request (rounded up to whole days)."),
    measured_instantly: bool = typer.Option(False, help="Belief time = event end (horizon 0), not the upload time."),
    wait: bool = typer.Option(True, help="Wait until each chunk is stored (no: answer 202 once it is durable)."),
) -> None:
    """Upload CSV files (event start, optional belief time, value) to a sensor via POST /sensors/<id>/data/upload."""
    total = sum(count_rows(path) for path in files)
    sent, started = 0, time.monotonic()
    headers = {"Authorization": token, **({} if wait else {"Prefer": "respond-async"})}
    form = {"belief-time-measured-instantly": "true" if measured_instantly else "false"}
    endpoint = f"{url.rstrip('/')}/api/v3_0/sensors/{sensor}/data/upload"

    def rate(_: object) -> str:
        return f"{sent / max(time.monotonic() - started, 1e-9):,.0f} rows/s"

    with (
        httpx.Client(timeout=120) as client,
        typer.progressbar(length=total, label="rows sent", show_pos=True, item_show_func=rate) as bar,
    ):
        for path in files:
            for chunk in chunks(path, chunk_rows):
                files_part = {"uploaded-files": (chunk.name, chunk.content, "text/csv")}
                try:
                    response = client.post(endpoint, files=files_part, data=form, headers=headers)
                except httpx.HTTPError as exc:
                    typer.echo(f"\nerror: cannot reach {url}: {exc}", err=True)
                    raise typer.Exit(1) from None
                if response.status_code not in (200, 202):
                    typer.echo(f"\nerror: {path.name}: HTTP {response.status_code}: {response.text}", err=True)
                    raise typer.Exit(1)
                sent += chunk.rows
                bar.update(chunk.rows)
    elapsed = time.monotonic() - started
    typer.echo(
        f"sent {sent} rows from {len(files)} file(s) in {elapsed:.1f} s ({sent / max(elapsed, 1e-9):,.0f} rows/s)"
    )
