"""Each run's table, written to ``bench/results/<timestamp>-<commit>.md`` (and ``.json``) with a header that
says what it was measured on: commit (and whether the tree was dirty), machine, versions, sizes, load."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.report import Row, render_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def commit() -> tuple[str, bool]:
    """The short commit and whether the working tree differs from it (result files aside)."""
    status = git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    return git("rev-parse", "--short", "HEAD") or "unknown", bool(status)


def machine() -> dict[str, Any]:
    model = ""
    memory_gb = 0.0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), "")
        meminfo = Path("/proc/meminfo").read_text()
        kb = next(int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal:"))
        memory_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {"host": platform.node(), "cpu": model or platform.machine(), "cores": os.cpu_count(),
            "memory_gb": memory_gb}  # fmt: skip


def versions(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        ts = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return {
        "python": platform.python_version(),
        "kafka": os.environ.get("FLEXSTREAM_KAFKA_RELEASE") or "not reported (FLEXSTREAM_KAFKA_RELEASE unset)",
        "postgresql": str(pg[0]) if pg else "?",
        "timescaledb": str(ts[0]) if ts else "absent",
    }


def header(
    started: datetime, database_url: str, sizes: dict[str, Any], load_before: Sequence[float],
    load_after: Sequence[float],
) -> dict[str, Any]:  # fmt: skip
    sha, dirty = commit()
    return {
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": sha,
        "dirty": dirty,
        "machine": machine(),
        "versions": versions(database_url),
        "sizes": sizes,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }


def render(head: dict[str, Any], rows: Sequence[Row]) -> str:
    """The result file's text (Markdown): the header as a list, the table in a code block."""
    m, v = head["machine"], head["versions"]
    sizes = ", ".join(f"{k} {val}" for k, val in head["sizes"].items())
    lines = [
        f"# Benchmark run {head['started']}, commit `{head['commit']}`{' (dirty tree)' if head['dirty'] else ''}",
        "",
        f"- machine: {m['host']}, {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory",
        f"- versions: Python {v['python']}, {v['kafka']}, PostgreSQL {v['postgresql']}, TimescaleDB {v['timescaledb']}",
        f"- sizes: {sizes}",
        f"- load average (1, 5, 15 min): {_load(head['load_before'])} before, {_load(head['load_after'])} after",
        "",
        "```",
        render_table(rows),
        "```",
        "",
    ]
    return "\n".join(lines)


def _load(figures: Sequence[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in figures)


def write(head: dict[str, Any], rows: Sequence[Row], folder: Path = RESULTS) -> Path:
    """``<timestamp>-<commit>.md`` and ``.json`` in ``folder``; returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.strptime(head["started"], "%Y-%m-%d %H:%M:%S UTC").strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{head['commit']}{'-dirty' if head['dirty'] else ''}"
    text = folder / f"{name}.md"
    text.write_text(render(head, rows))
    data = {"header": head, "rows": [_row_data(r) for r in rows]}
    (folder / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    return text


def _row_data(row: Row) -> dict[str, Any]:
    return {**asdict(row), "verdict": str(row.verdict)}
