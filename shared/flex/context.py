"""The flex-context: prices, site limits, inflexible devices and breach prices around the scheduled device.

``parse_flex_context(raw, sensors)`` validates the merged flex-context (the stored one of the asset tree,
overridden key by key by the request's) and returns a ``FlexContext`` with every value in internal units
(MW, prices per MWh or per MW in the shared currency) or raises ``FlexRejected`` with field errors keyed by
the wire names. Described in docs/scheduling.md, "Flex-model and flex-context".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.errors import FlexRejected
from shared.flex.quantities import (
    UNKNOWN_FIELD,
    FieldInvalid,
    Fixed,
    HasUnit,
    Target,
    Variable,
    parse_variable,
)

_POWER = Target("MW", nonnegative=True)
_PER_MW = Target("/MW", nonnegative=True)
_PER_MWH = Target("/MWh")
_PER_MWH_POSITIVE = Target("/MWh", nonnegative=True)

# wire name → (attribute, target), in the order FlexMeasures declares them (the first price fixes the currency)
VARIABLE_FIELDS: dict[str, tuple[str, Target]] = {
    "consumption-price": ("consumption_price", _PER_MWH),
    "production-price": ("production_price", _PER_MWH),
    "site-power-capacity": ("site_power_capacity", _POWER),
    "site-consumption-capacity": ("site_consumption_capacity", _POWER),
    "site-production-capacity": ("site_production_capacity", _POWER),
    "site-consumption-breach-price": ("site_consumption_breach_price", _PER_MW),
    "site-production-breach-price": ("site_production_breach_price", _PER_MW),
    "site-peak-consumption": ("site_peak_consumption", _POWER),
    "site-peak-consumption-price": ("site_peak_consumption_price", _PER_MW),
    "site-peak-production": ("site_peak_production", _POWER),
    "site-peak-production-price": ("site_peak_production_price", _PER_MW),
    "consumption-breach-price": ("consumption_breach_price", _PER_MW),
    "production-breach-price": ("production_breach_price", _PER_MW),
    "soc-minima-breach-price": ("soc_minima_breach_price", _PER_MWH_POSITIVE),
    "soc-maxima-breach-price": ("soc_maxima_breach_price", _PER_MWH_POSITIVE),
}
RELAX_FIELDS = (
    "relax-constraints",
    "relax-soc-constraints",
    "relax-capacity-constraints",
    "relax-site-capacity-constraints",
)
DEPRECATED_PRICE_SENSORS = {
    "consumption-price-sensor": "consumption-price",
    "production-price-sensor": "production-price",
}
KNOWN_FIELDS = {*VARIABLE_FIELDS, *RELAX_FIELDS, *DEPRECATED_PRICE_SENSORS, "inflexible-device-sensors"}

# Default breach prices per relax group, in the shared currency per MW (capacities) or per MWh (SoC).
RELAX_GROUPS: dict[str, tuple[tuple[str, str], float]] = {
    "relax-soc-constraints": (("soc_minima_breach_price", "soc_maxima_breach_price"), 1e6),  # 1000 per kWh
    "relax-capacity-constraints": (("consumption_breach_price", "production_breach_price"), 1e5),  # 100 per kW
    "relax-site-capacity-constraints": (
        ("site_consumption_breach_price", "site_production_breach_price"),
        1e7,  # 10000 per kW
    ),
}


class FlexContext(BaseModel):
    """The effective flex-context in internal units. Prices are in ``currency`` per MWh or per MW."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consumption_price: Variable | None = None
    production_price: Variable | None = None
    inflexible_device_sensors: tuple[int, ...] = ()
    site_power_capacity: Variable | None = None
    site_consumption_capacity: Variable | None = None
    site_production_capacity: Variable | None = None
    site_consumption_breach_price: Variable | None = None
    site_production_breach_price: Variable | None = None
    site_peak_consumption: Variable = Fixed(value=0.0)
    site_peak_consumption_price: Variable | None = None
    site_peak_production: Variable = Fixed(value=0.0)
    site_peak_production_price: Variable | None = None
    consumption_breach_price: Variable | None = None
    production_breach_price: Variable | None = None
    soc_minima_breach_price: Variable | None = None
    soc_maxima_breach_price: Variable | None = None
    currency: str = "dimensionless"


def parse_boolean(raw: object) -> bool:
    """Marshmallow's lenient booleans: true/false, 1/0 and their common spellings."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in {"true", "1", "yes", "on", "t", "y"}:
        return True
    if isinstance(raw, str) and raw.lower() in {"false", "0", "no", "off", "f", "n"}:
        return False
    raise FieldInvalid(["Not a valid boolean."])


def referenced_in_context(raw: Mapping[str, Any]) -> set[int]:
    """Sensor ids named anywhere in a raw flex-context (well-formed or not)."""
    found: set[int] = set()
    for key, value in raw.items():
        if key in VARIABLE_FIELDS and isinstance(value, dict) and _is_id(value.get("sensor")):
            found.add(value["sensor"])
        elif key in DEPRECATED_PRICE_SENSORS and _is_id(value):
            found.add(value)
        elif key == "inflexible-device-sensors" and isinstance(value, list):
            found.update(item for item in value if _is_id(item))
    return found


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_flex_context(raw: object, sensors: Mapping[int, HasUnit]) -> FlexContext:
    if not isinstance(raw, dict):
        raise FlexRejected({"flex-context": {"_schema": ["Invalid input type."]}})
    errors: dict[str, Any] = {key: [UNKNOWN_FIELD] for key in raw if key not in KNOWN_FIELDS}
    values: dict[str, Any] = {}
    currencies: list[tuple[str, str]] = []  # (wire name, currency) of every present price, in field order
    for wire, (attribute, target) in VARIABLE_FIELDS.items():
        if wire not in raw:
            continue
        try:
            parsed = parse_variable(raw[wire], target, sensors)
        except FieldInvalid as e:
            errors[wire] = e.errors
            continue
        values[attribute] = parsed.value
        if parsed.currency is not None:
            currencies.append((wire, parsed.currency))
    for deprecated, replacement in DEPRECATED_PRICE_SENSORS.items():
        if deprecated in raw:
            _deprecated_price_sensor(raw, deprecated, replacement, sensors, values, currencies, errors)
    relax: dict[str, bool] = {}
    for wire in RELAX_FIELDS:
        if wire in raw:
            try:
                relax[wire] = parse_boolean(raw[wire])
            except FieldInvalid as e:
                errors[wire] = e.errors
    if "inflexible-device-sensors" in raw:
        try:
            values["inflexible_device_sensors"] = _inflexible_sensors(raw["inflexible-device-sensors"], sensors)
        except FieldInvalid as e:
            errors["inflexible-device-sensors"] = e.errors
    if errors:
        raise FlexRejected(errors)
    currency = _shared_currency(raw, currencies)
    _fill_breach_prices(values, relax)
    return FlexContext(**values, currency=currency)


def _deprecated_price_sensor(
    raw: Mapping[str, Any],
    deprecated: str,
    replacement: str,
    sensors: Mapping[int, HasUnit],
    values: dict[str, Any],
    currencies: list[tuple[str, str]],
    errors: dict[str, Any],
) -> None:
    sensor_id = raw[deprecated]
    if replacement in raw:
        errors.setdefault("_schema", []).append(f"Must pass either {replacement} or {deprecated}.")
        return
    if any(("breach" in key or "peak" in key or "relax" in key) for key in raw):
        errors.setdefault("_schema", []).append(f'Please switch to using `{replacement}: {{"sensor": {sensor_id}}}`.')
        return
    try:
        parsed = parse_variable({"sensor": sensor_id}, _PER_MWH, sensors)
    except FieldInvalid as e:
        errors[deprecated] = ["Not a valid integer."] if not _is_id(sensor_id) else e.errors
        return
    values[replacement.replace("-", "_")] = parsed.value
    if parsed.currency is not None:
        currencies.append((replacement, parsed.currency))


def _inflexible_sensors(raw: object, sensors: Mapping[int, HasUnit]) -> tuple[int, ...]:
    if not isinstance(raw, list):
        raise FieldInvalid(["Not a valid list."])
    errors: dict[str, Any] = {}
    for index, item in enumerate(raw):
        try:
            parse_variable({"sensor": item}, _POWER, sensors)
        except FieldInvalid as e:
            errors[str(index)] = ["Not a valid integer."] if not _is_id(item) else e.errors
    if errors:
        raise FieldInvalid(errors)
    return tuple(raw)


def _shared_currency(raw: Mapping[str, Any], currencies: list[tuple[str, str]]) -> str:
    if not currencies:
        return "dimensionless"
    first_field, shared = currencies[0]
    for wire, currency in currencies[1:]:
        if currency != shared:
            raise FlexRejected(
                {
                    wire: [
                        f"Prices must share the same monetary unit. '{wire}' uses '{currency}', "
                        f"but '{first_field}' used '{shared}'."
                    ]
                }
            )
    return shared


def _fill_breach_prices(values: dict[str, Any], relax: Mapping[str, bool]) -> None:
    """Missing breach prices of a group get the group's default when ``relax-constraints`` or the group's own
    switch is on. Explicit prices always win (FlexMeasures overwrites them with a group switch, and leaves the
    second price of a group empty under ``relax-constraints`` when only the first was given)."""
    for switch, (attributes, default) in RELAX_GROUPS.items():
        if relax.get(switch) or relax.get("relax-constraints"):
            for attribute in attributes:
                values.setdefault(attribute, Fixed(value=default))
