"""HTTP body → command: FlexMeasures' synchronous rejections, and chunked upload commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway.rules.commands import CommandRejected, is_energy_price_unit, post_command, upload_commands
from services.gateway.schemas.data import PostSensorDataByIdBody
from services.gateway.sql.sensors import SensorRow

START = datetime(2025, 1, 1, tzinfo=UTC)


def sensor(unit: str = "kW", resolution: timedelta = timedelta(minutes=15)) -> SensorRow:
    return SensorRow(id=7, name="s", unit=unit, timezone="UTC", event_resolution=resolution, attributes={},
                     generic_asset_id=1, knowledge_horizon_fnc="ex_post", account_id=1, consultancy_account_id=None,
                     asset_name="a")  # fmt: skip


def body(**fields: Any) -> PostSensorDataByIdBody:
    return PostSensorDataByIdBody.model_validate(
        {"start": START.isoformat(), "duration": "PT30M", "values": [1, 2], "unit": "kW", **fields}
    )


def test_a_valid_post_becomes_a_command() -> None:
    command = post_command(body(horizon="PT0H"), sensor(), replace=True)
    assert (command.sensor_id, command.values, command.horizon, command.replace) == (7, [1, 2], timedelta(0), True)
    assert command.source_id is None  # set by the route once the permission is checked


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"unit": "kWh"}, None),  # stock → flow is fine
        ({"unit": "EUR"}, "Required unit for this sensor is kW, got incompatible unit: EUR"),
        (
            {"duration": "PT20M"},
            "Resolution of 0:10:00 is incompatible with the sensor's required resolution of 0:15:00.",
        ),
        ({"duration": "PT0M", "values": [1]}, "Resolution of 0:00:00 is incompatible"),
        ({"type": "PostMeterDataRequest", "horizon": "PT1H"}, "Meter data must lie in the past."),
        ({"type": "PostPrognosisRequest", "horizon": "-PT1H"}, "Prognoses must lie in the future."),
        ({"type": "PostPriceDataRequest"}, "must be an energy price unit"),
    ],
)
def test_rejections(fields: dict[str, Any], text: str | None) -> None:
    if text is None:
        post_command(body(**fields), sensor(), replace=False)
        return
    with pytest.raises(CommandRejected, match=text.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        post_command(body(**fields), sensor(), replace=False)


def test_instantaneous_sensors_refuse_overlapping_values() -> None:
    with pytest.raises(CommandRejected, match="Cannot save multiple instantaneous values"):
        post_command(body(duration="PT0M"), sensor(resolution=timedelta(0)), replace=False)


def test_energy_price_units() -> None:
    assert is_energy_price_unit("EUR/MWh") and is_energy_price_unit("KRW/kWh")
    assert not is_energy_price_unit("EUR/kW") and not is_energy_price_unit("EUR") and not is_energy_price_unit("kW")


def test_upload_commands_are_chunked_with_one_belief_time() -> None:
    starts = [START + timedelta(minutes=15 * i) for i in range(5)]
    commands = upload_commands(sensor(), starts, [1.0, None, 3.0, 4.0, 5.0], source_id=3, replace=False,
                               measured_instantly=False, chunk=2)  # fmt: skip
    assert [len(c.values) for c in commands] == [2, 2, 1]
    assert len({c.command_id for c in commands}) == 3 and len({c.recorded_at for c in commands}) == 1
    assert all(c.horizon is None and c.source_id == 3 for c in commands)
    instant = upload_commands(sensor(), starts, [1.0] * 5, source_id=3, replace=False, measured_instantly=True)
    assert instant[0].horizon == timedelta(0)
