# ruff: noqa: E501  (tables of inputs and exact error texts read best with one case per line)
"""Every trigger-time validation error, once: the unit tests (tests/unit/test_flex_*.py) check them against the
validator, tests/integration/test_scheduling_fields.py through the real gateway.

Sensor ids refer to tests/unit/flex_fixtures.py (``BATTERY`` is sensor 1, ``SENSORS`` the others; 99 does not exist).
Top-level rows are ``(changes to the body, expected)``: a dict is the E1 location payload, a string the E6 one.
The other tables hold E6 payloads (``{"message": {"json": payload}}``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.flex.storage import NEED_SOC_MAX

START_ISO = "2024-01-01T00:00:00+01:00"
AT_1H = "2024-01-01T01:00:00+01:00"
NO_PRICE = {"consumption-price": None}
COMMA = "Unsupported value type. `<class 'int'>` was provided but a quantity with a unit is expected."
SAME_CURRENCY = "Prices must share the same monetary unit."
INSTANTANEOUS_POWER_SENSOR = "Sensor {} is instantaneous (event resolution 0) and cannot receive a schedule."
BEYOND_WINDOW = "lies beyond the end of the planning window"  # a soc-target later than the longest window allowed


def at(hours: float) -> str:
    return (datetime.fromisoformat(START_ISO) + timedelta(hours=hours)).isoformat()


# fmt: off
TOP_LEVEL_ERRORS: list[tuple[Any, ...]] = [
    ({"start": None}, {"json": {"start": ["Missing data for required field."]}}),
    ({"start": "2024-01-01T00:00:00"}, {"json": {"start": ["Not a valid aware datetime."]}}),
    ({"start": "yesterday"}, {"json": {"start": ["Not a valid datetime."]}}),
    ({"duration": "PT1H30S"}, {"json": {"duration": ["FlexMeasures only support multiples of 1 minute."]}}),
    ({"duration": "two hours"}, {"json": {"duration": ["Cannot parse two hours as ISO8601 duration: not a valid ISO 8601 duration."]}}),
    ({"duration": 2}, {"json": {"duration": ["Not a valid duration."]}}),
    ({"prior": "2024-01-01T00:00:00"}, {"json": {"prior": ["Not a valid aware datetime."]}}),
    ({"force_new_job_creation": "perhaps"}, {"json": {"force_new_job_creation": ["Not a valid boolean."]}}),
    ({"flex-context": "cheap"}, {"json": {"flex-context": ["Not a valid mapping type."]}}),
    ({"flex-model": []}, {"json": {"flex-model": ["Not a valid mapping type."]}}),
    ({"resolution": "PT15M"}, {"json": {"resolution": ["Unknown field."]}}),
    ({"duration": "-PT1H"}, "Start 2024-01-01 00:00:00+01:00 cannot be after end 2023-12-31 23:00:00+01:00."),
    ({"duration": "PT0H"}, "The planning window is empty: the duration must be positive."),
]

PROCESS_ERRORS: list[tuple[Any, ...]] = [
    ({}, {"duration": ["Missing data for required field."], "power": ["Missing data for required field."]}),
    ({"duration": "PT1H", "power": "1 kW"}, {"power": ["Not a valid number."]}),
    ({"duration": "-PT1H", "power": 1}, {"duration": ["Duration must be positive."]}),
    ({"duration": "PT1H", "power": 1, "process-type": "LAZY"}, {"process-type": ["Must be one of: INFLEXIBLE, SHIFTABLE, BREAKABLE."]}),
    ({"duration": "PT1H", "power": 1, "optimization-sense": "MEDIAN"}, {"optimization-sense": ["Must be one of: MIN, MAX."]}),
    ({"duration": "PT1H", "power": 1, "soc-max": 1}, {"soc-max": ["Unknown field."]}),
    ({"duration": "PT1H", "power": 1, "time-restrictions": [{"start": "x"}]}, {"time-restrictions": {"0": {"start": ["Not a valid datetime."], "duration": ["Missing data for required field."]}}}),
    ({"duration": "PT1H", "power": 1, "time-restrictions": {}}, {"time-restrictions": ["Not a valid list."]}),
]

STORAGE_ERRORS: list[tuple[Any, ...]] = [
    ({"soc-max": None}, {}, NEED_SOC_MAX),
    ({"soc-max": None, "soc-targets": {"sensor": 5}}, {}, NEED_SOC_MAX),
    ({"colour": "red"}, {}, {"colour": ["Unknown field."]}),
    ({"soc-min": "x"}, {}, {"soc-min": ["Cannot convert value 'x' to a valid quantity. 'x' is not defined in the unit registry"]}),
    ({"soc-min": "1 MW"}, {}, {"soc-min": ["Cannot convert value `1 MW` to 'MWh'"]}),
    ({"soc-min": "-1 kWh"}, {}, {"soc-min": ["Must be greater than or equal to 0."]}),
    ({"soc-min": "2 MWh"}, {}, {"_schema": ["soc-min must not exceed soc-max."]}),
    ({"soc-at-start": 5}, {"unit": "W"}, {"soc-at-start": [COMMA]}),
    ({"soc-unit": "Wh"}, {}, {"soc-unit": ["Must be one of: kWh, MWh."]}),
    ({"soc-minima": [{"value": -1, "datetime": AT_1H}]}, {}, {"soc-minima": {"0": {"value": ["Must be greater than or equal to 0."]}}}),
    ({"soc-targets": {"sensor": 2}}, {}, {"soc-targets": ["Cannot convert sensor 2 unit 'kW' to 'MWh'."]}),
    ({"state-of-charge": "1 MWh"}, {}, {"state-of-charge": ["Unsupported value type. `<class 'str'>` was provided but only dict are supported."]}),
    ({"state-of-charge": {"sensor": 8}}, {}, {"state-of-charge": ["The state-of-charge sensor 8 must be instantaneous (event resolution 0)."]}),
    ({"state-of-charge": {"sensor": 99}}, {}, {"state-of-charge": ["No sensor found with id 99."]}),
    ({"power-capacity": "1 MWh"}, {}, {"power-capacity": ["Cannot convert value `1 MWh` to 'MW'"]}),
    ({"power-capacity": 1}, {}, {"power-capacity": [COMMA]}),
    ({"power-capacity": {"sensor": 7}}, {}, {"power-capacity": ["Cannot convert sensor 7 unit '°C' to 'MW'."]}),
    ({"charging-efficiency": "1 kW"}, {}, {"charging-efficiency": ["Cannot convert value `1 kW` to 'dimensionless'"]}),
    ({"roundtrip-efficiency": 0}, {}, {"roundtrip-efficiency": ["Must be greater than 0 and less than or equal to 1."]}),
    ({"roundtrip-efficiency": "110%"}, {}, {"roundtrip-efficiency": ["Must be greater than 0 and less than or equal to 1."]}),
    ({"roundtrip-efficiency": 0.9, "charging-efficiency": 0.9}, {}, {"_schema": ["Fields `charging_efficiency` and `roundtrip_efficiency` are mutually exclusive."]}),
    ({"roundtrip-efficiency": 0.9, "discharging-efficiency": 0.9}, {}, {"_schema": ["Fields `discharging_efficiency` and `roundtrip_efficiency` are mutually exclusive."]}),
    ({"storage-efficiency": {"sensor": 11}}, {}, {"storage-efficiency": ["The storage-efficiency sensor 11 must have the power sensor's resolution."]}),
    ({"soc-gain": "1 kW"}, {}, {"soc-gain": ["Must be a list of at least one power quantity, sensor or time series."]}),
    ({"soc-gain": []}, {}, {"soc-gain": ["Must be a list of at least one power quantity, sensor or time series."]}),
    ({"soc-usage": ["1 kWh"]}, {}, {"soc-usage": {"0": ["Cannot convert value `1 kWh` to 'MW'"]}}),
    ({"prefer-charging-sooner": "sometimes"}, {}, {"prefer-charging-sooner": ["Not a valid boolean."]}),
    ({}, {"attributes": {"min_soc_in_mwh": "lots"}}, {"soc-min": ["The sensor attribute 'min_soc_in_mwh' must be a number (MWh), not 'lots'."]}),
    ({}, {"attributes": {"consumption_capacity": "lots"}}, {"consumption-capacity": {"attribute consumption_capacity": ["Cannot convert value 'lots' to a valid quantity. 'lots' is not defined in the unit registry"]}}),
]

CONTEXT_ERRORS: list[tuple[Any, ...]] = [
    ({"consumption-price": "30 USD/MW"}, {"consumption-price": ["Cannot convert value `30 USD/MW` to '/MWh'"]}),
    ({"consumption-price": "30 kW"}, {"consumption-price": ["Cannot convert value `30 kW` to '/MWh'"]}),
    ({"consumption-price": "1 FOO"}, {"consumption-price": ["Cannot convert value '1 FOO' to a valid quantity. 'FOO' is not defined in the unit registry"]}),
    ({"consumption-price": "30 EUR/MW"}, {"consumption-price": ["Cannot convert value `30 EUR/MW` to '/MWh'"]}),
    ({"consumption-price": 30}, {"consumption-price": ["Unsupported value type. `<class 'int'>` was provided but a quantity with a unit is expected."]}),
    ({"consumption-price": True}, {"consumption-price": ["Unsupported value type. `<class 'bool'>` was provided but only dict, list, str are supported."]}),
    ({"consumption-price": {"sensor": 99}}, {"consumption-price": ["No sensor found with id 99."]}),
    ({"consumption-price": {"sensor": "3"}}, {"consumption-price": {"sensor": ["Not a valid integer."]}}),
    ({"consumption-price": {"sensor": 3, "x": 1}}, {"consumption-price": {"x": ["Unknown field."]}}),
    ({"site-power-capacity": "-1 kW"}, {"site-power-capacity": ["Must be greater than or equal to 0."]}),
    ({"site-power-capacity": "nan kW"}, {"site-power-capacity": ["Not a valid number: the value must be finite."]}),
    ({"site-power-capacity": "1e400 kW"}, {"site-power-capacity": ["Not a valid number: the value must be finite."]}),
    ({"site-power-capacity": {"sensor": 7}}, {"site-power-capacity": ["Cannot convert sensor 7 unit '°C' to 'MW'."]}),
    ({"site-peak-consumption-price": "-1 EUR/MW"}, {"site-peak-consumption-price": ["Must be greater than or equal to 0."]}),
    ({"site-consumption-breach-price": "1 EUR/MWh"}, {"site-consumption-breach-price": ["Cannot convert value `1 EUR/MWh` to '/MW'"]}),
    ({"color": "red"}, {"color": ["Unknown field."]}),
    ({"relax-constraints": "maybe"}, {"relax-constraints": ["Not a valid boolean."]}),
    ({"inflexible-device-sensors": 2}, {"inflexible-device-sensors": ["Not a valid list."]}),
    ({"inflexible-device-sensors": [2, 99, "x"]}, {"inflexible-device-sensors": {"1": ["No sensor found with id 99."], "2": ["Not a valid integer."]}}),
    ({"consumption-price": "3 USD/MWh", "production-price": "3 EUR/MWh"}, {"production-price": [f"{SAME_CURRENCY} 'production-price' uses 'EUR', but 'consumption-price' used 'USD'."]}),
    ({"consumption-price": {"sensor": 4}, "site-peak-consumption-price": "1 EUR/kW"}, {"site-peak-consumption-price": [f"{SAME_CURRENCY} 'site-peak-consumption-price' uses 'EUR', but 'consumption-price' used 'USD'."]}),
    ({**NO_PRICE, "consumption-price-sensor": 3, "consumption-price": "3 EUR/MWh"}, {"_schema": ["Must pass either consumption-price or consumption-price-sensor."]}),
    ({**NO_PRICE, "consumption-price-sensor": 3, "relax-constraints": True}, {"_schema": ['Please switch to using `consumption-price: {"sensor": 3}`.']}),
    ({"production-price-sensor": 4, "site-peak-production": "1 MW"}, {"_schema": ['Please switch to using `production-price: {"sensor": 4}`.']}),
    ({**NO_PRICE, "consumption-price-sensor": 99}, {"consumption-price-sensor": ["No sensor found with id 99."]}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "datetime": START_ISO}]}, {"consumption-price": {"0": {"_schema": ["A segment with only a 'datetime' is an instant and covers no time slot; give 'start' and 'end' (or one of them with 'duration') for this field."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "start": START_ISO}]}, {"consumption-price": {"0": {"_schema": ["Pass either 'datetime', or exactly two of 'start', 'end' and 'duration'."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "start": START_ISO, "end": START_ISO, "duration": "PT1H"}]}, {"consumption-price": {"0": {"_schema": ["Pass either 'datetime', or exactly two of 'start', 'end' and 'duration'."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "datetime": START_ISO, "duration": "PT1H"}]}, {"consumption-price": {"0": {"_schema": ["If using 'datetime', do not also pass 'start', 'end' or 'duration'."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "start": "2024-01-01T00:00", "duration": "PT1M30S", "x": 1}]}, {"consumption-price": {"0": {"x": ["Unknown field."], "start": ["Not a valid aware datetime."], "duration": ["FlexMeasures only support multiples of 1 minute."]}}}),
    ({"consumption-price": [{"start": START_ISO, "duration": "PT1H"}]}, {"consumption-price": {"0": {"value": ["Missing data for required field."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "end": START_ISO, "duration": "-PT1H"}]}, {"consumption-price": {"0": {"_schema": ["The segment must end after it starts (2024-01-01T01:00:00+01:00)."]}}}),
    ({"consumption-price": [{"value": "1 EUR/MWh", "start": START_ISO, "duration": "PT1H"}, {"value": "1 USD/MWh", "start": START_ISO, "duration": "PT1H"}]}, {"consumption-price": ["All segments must share the same unit; found the currencies ['EUR', 'USD']."]}),
]
# (flex-model field, SoC segment, a phrase of that field's E6 message): segments that would do nothing
SEGMENT_ERRORS: list[tuple[Any, ...]] = [
    ("soc-targets", {"value": 0.5, "datetime": at(0)}, "covers no instant"),  # the start itself
    ("soc-targets", {"value": 0.5, "datetime": at(1.1)}, "covers no instant"),  # between grid instants
    ("soc-minima", {"value": 0.5, "start": at(1.05), "end": at(1.2)}, "covers no instant"),
    ("soc-maxima", {"value": 0.5, "datetime": at(0)}, "covers no instant"),
]
# fmt: on
