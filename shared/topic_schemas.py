"""JSON Schema of every topic's messages, for device firmware and stream consumers that do not read Python.

``python -m shared.topic_schemas`` (re)writes ``docs/schemas/<topic>.json``; ``tests/unit/test_schemas.py`` fails
when a file no longer matches the models, so the published schemas cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.topics import ALL_TOPICS, Topic

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"


def render(topic: Topic[Any]) -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": topic.name,
        "description": f"Messages on the Kafka topic {topic.name} (keyed by sensor id, UTF-8 JSON values).",
        **topic.json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[Path, str]:
    return {SCHEMA_DIR / f"{topic.name}.json": render(topic) for topic in ALL_TOPICS}


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in expected_files().items():
        target = directory / path.name
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in write():
        sys.stdout.write(f"wrote {path}\n")
