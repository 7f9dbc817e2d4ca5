"""docs/operations.md documents every setting the services read (FLEXSTREAM_<FIELD>)."""

from pathlib import Path

from shared.settings import GatewaySettings, IngestSettings, SchedulerSettings, StatsSettings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented() -> None:
    text = OPERATIONS.read_text()
    fields = {
        name
        for model in (GatewaySettings, IngestSettings, SchedulerSettings, StatsSettings)
        for name in model.model_fields
    }
    missing = sorted(f"FLEXSTREAM_{name.upper()}" for name in fields if f"FLEXSTREAM_{name.upper()}" not in text)
    assert not missing, f"not in docs/operations.md: {missing}"
