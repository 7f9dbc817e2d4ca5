"""The storage flex-model of one device: state of charge, power limits, efficiencies, gains and tie-breakers.

``parse_storage_flex_model(raw, sensor, sensors, start)`` validates the flex-model sent with a trigger,
fills the defaults that come from the sensor and its asset (capacities, efficiencies, SoC limits, soc-unit) and
returns a ``StorageFlexModel`` in internal units (MW, MWh, fractions), or raises ``FlexRejected``.
Described in docs/scheduling.md, "Flex-model and flex-context".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from shared.errors import FlexRejected
from shared.flex.context import parse_boolean
from shared.flex.quantities import (
    UNKNOWN_FIELD,
    FieldInvalid,
    Fixed,
    HasUnit,
    SensorRef,
    Series,
    Target,
    Variable,
    fixed_value,
    parse_variable,
)
from shared.time import DatetimeError, parse_aware_datetime

NEED_SOC_MAX = "Need maximal permitted state of charge, please specify soc-max or some soc-targets."


class StorageSensor(HasUnit, Protocol):
    @property
    def event_resolution(self) -> timedelta: ...
    @property
    def timezone(self) -> str: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def asset_attributes(self) -> dict[str, Any]: ...
    @property
    def flex_context(self) -> dict[str, Any]: ...


class StorageFlexModel(BaseModel):
    """Effective storage flex-model; energies in MWh, powers in MW, efficiencies as fractions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    soc_at_start: float = 0.0
    soc_unit: str | None = None
    soc_min: float = 0.0
    soc_max: float
    soc_minima: Variable | None = None
    soc_maxima: Variable | None = None
    soc_targets: Variable | None = None
    state_of_charge: int | None = None
    power_capacity: Variable | None = None  # None: the job fails, naming the missing capacity
    consumption_capacity: Variable | None = None
    production_capacity: Variable | None = None
    consumption_capacity_in_flex_model: bool = False  # only then a device consumption breach price applies
    production_capacity_in_flex_model: bool = False
    charging_efficiency: Variable = Fixed(value=1.0)
    discharging_efficiency: Variable = Fixed(value=1.0)
    storage_efficiency: Variable = Fixed(value=1.0)
    soc_gain: tuple[Variable, ...] = ()
    soc_usage: tuple[Variable, ...] = ()
    prefer_charging_sooner: bool = True
    prefer_curtailing_later: bool = True
    consumer_only: bool = False  # is_consumer true and is_producer explicitly false: never discharges
    producer_only: bool = False  # is_producer true and is_consumer explicitly false: never charges


_POWER = Target("MW")
_ATTRIBUTE_POWER = Target("MW", number_unit="MW")  # sensor attributes may hold plain numbers in MW
_RATIO = Target("dimensionless")
SOC_FIELDS = ("soc-minima", "soc-maxima", "soc-targets")
VARIABLE_FIELDS = {
    "power-capacity": _POWER,
    "consumption-capacity": _POWER,
    "production-capacity": _POWER,
    "charging-efficiency": _RATIO,
    "discharging-efficiency": _RATIO,
    "storage-efficiency": _RATIO,
}
OTHER_FIELDS = {
    "soc-at-start",
    "soc-unit",
    "soc-min",
    "soc-max",
    "state-of-charge",
    "roundtrip-efficiency",
    "soc-gain",
    "soc-usage",
    "prefer-charging-sooner",
    "prefer-curtailing-later",
}
KNOWN_FIELDS = {*SOC_FIELDS, *VARIABLE_FIELDS, *OTHER_FIELDS}


def attribute(sensor: StorageSensor, name: str) -> Any:
    """A sensor attribute, falling back to the asset's attribute of the same name (FlexMeasures' lookup)."""
    if name in sensor.attributes:
        return sensor.attributes[name]
    return sensor.asset_attributes.get(name)


def guess_soc_unit(sensor_unit: str) -> str | None:
    return {"kWh": "kWh", "MWh": "MWh", "kW": "kWh", "MW": "MWh"}.get(sensor_unit)


def referenced_in_storage(raw: Mapping[str, Any]) -> set[int]:
    found: set[int] = set()
    for key, value in raw.items():
        candidates = value if key in ("soc-gain", "soc-usage") and isinstance(value, list) else [value]
        for candidate in candidates:
            if isinstance(candidate, dict) and isinstance(candidate.get("sensor"), int):
                found.add(candidate["sensor"])
    return found


def parse_storage_flex_model(
    raw: object, sensor: StorageSensor, sensors: Mapping[int, StorageSensor], start: datetime
) -> StorageFlexModel:
    if not isinstance(raw, dict):
        raise FlexRejected({"flex-model": {"_schema": ["Invalid input type."]}})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in raw if key not in KNOWN_FIELDS}
    values: dict[str, Any] = {}

    soc_unit = raw.get("soc-unit")
    if "soc-unit" in raw and soc_unit not in ("kWh", "MWh"):
        errors["soc-unit"] = ["Must be one of: kWh, MWh."]
        soc_unit = None
    if soc_unit is None and "soc-unit" not in raw:
        soc_unit = guess_soc_unit(sensor.unit)
    values["soc_unit"] = soc_unit
    energy = Target("MWh", number_unit=soc_unit)

    def field(wire: str, target: Target, source: Mapping[str, Any] = raw) -> Variable | None:
        try:
            return parse_variable(source[wire], target, sensors).value
        except FieldInvalid as e:
            errors[wire] = e.errors
            return None

    def fixed(wire: str, target: Target) -> float | None:
        try:
            return fixed_value(raw[wire], target)[0]
        except FieldInvalid as e:
            errors[wire] = e.errors
            return None

    if "soc-at-start" in raw:
        values["soc_at_start"] = fixed("soc-at-start", energy)
    else:
        values["soc_at_start"] = _stored_soc(sensor, start)
    if "soc-min" in raw:
        values["soc_min"] = fixed("soc-min", Target("MWh", nonnegative=True, number_unit=soc_unit))
    elif attribute(sensor, "min_soc_in_mwh") is not None:
        values["soc_min"] = _attribute_number(sensor, "min_soc_in_mwh", errors, "soc-min")
    if "soc-max" in raw:
        values["soc_max"] = fixed("soc-max", energy)
    elif attribute(sensor, "max_soc_in_mwh") is not None:
        values["soc_max"] = _attribute_number(sensor, "max_soc_in_mwh", errors, "soc-max")
    for wire in SOC_FIELDS:
        if wire in raw:
            target = Target(
                "MWh", number_unit=soc_unit, instants=True, nonnegative=wire == "soc-minima", timezone=sensor.timezone
            )
            values[wire.replace("-", "_")] = field(wire, target)
    if "state-of-charge" in raw:
        values["state_of_charge"] = _state_of_charge_sensor(raw["state-of-charge"], sensors, errors)

    for wire, target in VARIABLE_FIELDS.items():
        if wire in raw:
            values[wire.replace("-", "_")] = field(wire, target)
    values["consumption_capacity_in_flex_model"] = "consumption-capacity" in raw
    values["production_capacity_in_flex_model"] = "production-capacity" in raw
    if "storage-efficiency" in raw:
        _check_resolution(values.get("storage_efficiency"), sensor, sensors, errors)
    _efficiencies(raw, sensor, values, errors)
    _defaults_from_attributes(sensor, values, errors, field)

    for wire in ("soc-gain", "soc-usage"):
        source = raw if wire in raw else {wire: attribute(sensor, wire)}
        if source[wire] is not None:
            values[wire.replace("-", "_")] = _power_list(wire, source[wire], sensors, errors)
    for wire in ("prefer-charging-sooner", "prefer-curtailing-later"):
        if wire in raw:
            try:
                values[wire.replace("-", "_")] = parse_boolean(raw[wire])
            except FieldInvalid as e:
                errors[wire] = e.errors

    is_consumer, is_producer = attribute(sensor, "is_consumer"), attribute(sensor, "is_producer")
    values["consumer_only"] = bool(is_consumer) and is_producer is False
    values["producer_only"] = bool(is_producer) and is_consumer is False
    if errors:
        raise FlexRejected(errors)
    if "soc_max" not in values:
        values["soc_max"] = _largest_target(values.get("soc_targets"))
    if values.get("soc_min", 0.0) > values["soc_max"]:
        raise FlexRejected({"_schema": ["soc-min must not exceed soc-max."]})
    return StorageFlexModel(**{key: value for key, value in values.items() if value is not None})


def _stored_soc(sensor: StorageSensor, start: datetime) -> float:
    """The asset's stored ``soc_in_mwh`` when its ``soc_datetime`` is the schedule start, else 0."""
    stored, when = sensor.asset_attributes.get("soc_in_mwh"), sensor.asset_attributes.get("soc_datetime")
    if not isinstance(stored, int | float) or isinstance(stored, bool) or not isinstance(when, str):
        return 0.0
    try:
        return float(stored) if parse_aware_datetime(when) == start else 0.0
    except DatetimeError:
        return 0.0


def _attribute_number(sensor: StorageSensor, name: str, errors: dict[str, Any], wire: str) -> float | None:
    value = attribute(sensor, name)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    errors[wire] = [f"The sensor attribute '{name}' must be a number (MWh), not {value!r}."]
    return None


def _state_of_charge_sensor(raw: object, sensors: Mapping[int, StorageSensor], errors: dict[str, Any]) -> int | None:
    try:
        reference = parse_variable(raw, Target("MWh", fixed=False, series=False), sensors).value
    except FieldInvalid as e:
        errors["state-of-charge"] = e.errors
        return None
    assert isinstance(reference, SensorRef)
    if sensors[reference.sensor].event_resolution != timedelta(0):
        errors["state-of-charge"] = [
            f"The state-of-charge sensor {reference.sensor} must be instantaneous (event resolution 0)."
        ]
        return None
    return reference.sensor


def _check_resolution(
    value: Variable | None, sensor: StorageSensor, sensors: Mapping[int, StorageSensor], errors: dict[str, Any]
) -> None:
    if isinstance(value, SensorRef) and sensors[value.sensor].event_resolution != sensor.event_resolution:
        errors["storage-efficiency"] = [
            f"The storage-efficiency sensor {value.sensor} must have the power sensor's resolution."
        ]


def _efficiencies(
    raw: Mapping[str, Any], sensor: StorageSensor, values: dict[str, Any], errors: dict[str, Any]
) -> None:
    """Roundtrip efficiency (flex-model, else the sensor's ``roundtrip-efficiency`` or ``roundtrip_efficiency``
    attribute) sets both charging and discharging efficiency to its square root, unless the flex-model gives
    those itself (together with ``roundtrip-efficiency`` that is an error)."""
    for wire in ("charging-efficiency", "discharging-efficiency"):
        if wire in raw and "roundtrip-efficiency" in raw:
            errors.setdefault("_schema", []).append(
                f"Fields `{wire.replace('-', '_')}` and `roundtrip_efficiency` are mutually exclusive."
            )
    roundtrip: float | None = None
    if "roundtrip-efficiency" in raw:
        roundtrip = _roundtrip(raw["roundtrip-efficiency"], "roundtrip-efficiency", errors)
    else:
        for name in ("roundtrip-efficiency", "roundtrip_efficiency"):
            if attribute(sensor, name) is not None:
                roundtrip = _roundtrip(attribute(sensor, name), "roundtrip-efficiency", errors)
                break
    for wire in ("charging-efficiency", "discharging-efficiency"):
        if wire in raw:
            continue
        if roundtrip is not None:
            values[wire.replace("-", "_")] = Fixed(value=math.sqrt(roundtrip))
        elif attribute(sensor, wire) is not None:
            try:
                values[wire.replace("-", "_")] = Fixed(value=fixed_value(attribute(sensor, wire), _RATIO)[0])
            except FieldInvalid as e:
                errors[wire] = e.errors


def _roundtrip(raw: object, wire: str, errors: dict[str, Any]) -> float | None:
    try:
        value = fixed_value(raw, _RATIO)[0]
    except FieldInvalid as e:
        errors[wire] = e.errors
        return None
    if not 0 < value <= 1:
        errors[wire] = ["Must be greater than 0 and less than or equal to 1."]
        return None
    return value


def _defaults_from_attributes(
    sensor: StorageSensor, values: dict[str, Any], errors: dict[str, Any], field: Any
) -> None:
    if "power_capacity" not in values:
        for name, source in (
            ("capacity_in_mw", sensor.attributes),
            ("power-capacity", sensor.attributes),
            ("site-power-capacity", sensor.asset_attributes),
            ("site-power-capacity", sensor.flex_context),
        ):
            if source.get(name) is not None:
                values["power_capacity"] = field(name, _ATTRIBUTE_POWER, source)
                if name in errors:
                    errors["power-capacity"] = {f"attribute {name}": errors.pop(name)}
                break
    for wire, name in (
        ("consumption-capacity", "consumption_capacity"),
        ("production-capacity", "production_capacity"),
    ):
        key = wire.replace("-", "_")
        if key not in values and attribute(sensor, name) is not None:
            values[key] = field(name, _ATTRIBUTE_POWER, {name: attribute(sensor, name)})
            if name in errors:
                errors[wire] = {f"attribute {name}": errors.pop(name)}


def _power_list(
    wire: str, raw: object, sensors: Mapping[int, StorageSensor], errors: dict[str, Any]
) -> tuple[Variable, ...] | None:
    if not isinstance(raw, list) or not raw:
        errors[wire] = ["Must be a list of at least one power quantity, sensor or time series."]
        return None
    parsed: list[Variable] = []
    item_errors: dict[str, Any] = {}
    for index, item in enumerate(raw):
        try:
            parsed.append(parse_variable(item, Target("MW"), sensors).value)
        except FieldInvalid as e:
            item_errors[str(index)] = e.errors
    if item_errors:
        errors[wire] = item_errors
        return None
    return tuple(parsed)


def _largest_target(targets: Variable | None) -> float:
    """soc-max defaults to the largest target value, compared as numbers in MWh."""
    if isinstance(targets, Series) and targets.segments:
        return max(segment.value for segment in targets.segments)
    if isinstance(targets, Fixed):
        return targets.value
    raise FlexRejected(NEED_SOC_MAX)
