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


ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
ROOT = ARCHITECTURE.parents[1]


def test_where_things_are_matches_the_tree() -> None:
    """Every module of services/ and shared/ (but ``__init__.py``) is listed in "Where things are", and every
    listed path exists."""
    section = ARCHITECTURE.read_text().split("## Where things are", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    modules = {
        str(path.relative_to(ROOT))
        for folder in ("services", "shared")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "__init__.py"
    }
    assert not modules - listed, f"not in docs/architecture.md, 'Where things are': {sorted(modules - listed)}"
    assert not {path for path in listed if not (ROOT / path).exists()}, "listed but missing"
