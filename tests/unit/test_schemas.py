"""The JSON Schemas published under docs/schemas/ are exactly what the message models say."""

from __future__ import annotations

import json

from shared.topic_schemas import SCHEMA_DIR, expected_files


def test_published_schemas_match_the_models() -> None:
    stale = [path.name for path, text in expected_files().items() if not path.exists() or path.read_text() != text]
    assert not stale, f"out of date: {stale}; run `python -m shared.topic_schemas` and commit docs/schemas/"


def test_no_schema_file_without_a_topic() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(p.name for p in expected_files())


def test_sensor_data_schema_offers_every_command() -> None:
    schema = json.loads((SCHEMA_DIR / "flexstream.sensor-data.v1.json").read_text())
    assert set(schema["discriminator"]["mapping"]) == {"PostSensorData", "PostBeliefs", "DeleteSensorData"}
