"""Field types with FlexMeasures' (marshmallow's) error texts, for query strings and JSON bodies.

Each raises ``ValueError(<client-facing text>)``; ``validation.parse`` turns that into an E1 body.
"""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, WithJsonSchema

from shared.time import DurationError, parse_duration
from shared.units import is_valid_unit

TRUTHY = {"t", "true", "1", "on", "y", "yes"}
FALSY = {"f", "false", "0", "off", "n", "no"}


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("Not a valid integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError("Not a valid integer.")


def to_positive_int(value: Any) -> int:
    number = to_int(value)
    if number < 1:
        raise ValueError("Must be greater than or equal to 1.")
    return number


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    raise ValueError("Not a valid boolean.")


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("Not a valid number.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("Not a valid number.") from None


def not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("Field may not be null.")
    return value


def check_string(value: Any, max_length: int) -> str:
    if not isinstance(not_null(value), str):
        raise ValueError("Not a valid string.")
    if len(value) > max_length:
        raise ValueError(f"Longer than maximum length {max_length}.")
    return str(value)


def string(max_length: int) -> BeforeValidator:
    return BeforeValidator(lambda value: check_string(value, max_length))


def to_unit(value: Any) -> str:
    text = check_string(value, 80)
    if not is_valid_unit(text):
        raise ValueError(f"Unit '{text}' cannot be handled.")
    return text


def to_resolution(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(not_null(value), str):
        raise ValueError("Not a valid string.")
    try:
        resolution = parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None
    if resolution < timedelta(0):
        raise ValueError("Event resolution cannot be negative.")
    return resolution


def to_timezone(value: Any) -> str:
    text = check_string(value, 80)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown timezone: '{text}' is not an IANA timezone name (like 'Europe/Amsterdam')."
        ) from None
    return text


def to_attributes(value: Any) -> dict[str, Any]:
    """A JSON object, sent as FlexMeasures does (a string containing JSON) or directly as an object."""
    if isinstance(not_null(value), str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("Not a valid JSON string.") from None
    if not isinstance(value, dict):
        raise ValueError("Not a JSON object: attributes must encode a dictionary, e.g. '{\"a\": 1}'.")
    return value


def to_search_terms(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(term) for term in value]
    try:
        return shlex.split(str(value))
    except ValueError as exc:
        raise ValueError(f"Invalid filter: {exc}.") from None


def to_query_unit(value: Any) -> str:
    text = str(value)
    if not is_valid_unit(text):
        raise ValueError(f"Invalid unit: {text}")
    return text


Int = Annotated[int, BeforeValidator(to_int)]
PositiveInt = Annotated[int, BeforeValidator(to_positive_int)]
Bool = Annotated[bool, BeforeValidator(to_bool)]
Float = Annotated[float, BeforeValidator(to_float)]
Unit = Annotated[str, BeforeValidator(to_unit), WithJsonSchema({"type": "string", "maxLength": 80, "examples": ["kW"]})]
Resolution = Annotated[
    timedelta,
    BeforeValidator(to_resolution),
    WithJsonSchema({"type": "string", "format": "duration", "examples": ["PT15M"], "description": "ISO 8601 duration"}),
]
Timezone = Annotated[
    str, BeforeValidator(to_timezone), WithJsonSchema({"type": "string", "examples": ["Europe/Amsterdam"]})
]
Attributes = Annotated[
    dict[str, Any],
    BeforeValidator(to_attributes),
    WithJsonSchema(
        {
            "description": "A JSON object, preferably JSON-encoded as a string (as FlexMeasures requires).",
            "anyOf": [{"type": "string", "examples": ['{"capacity_in_mw": 0.5}']}, {"type": "object"}],
        }
    ),
]
SearchTerms = Annotated[
    list[str],
    BeforeValidator(to_search_terms),
    WithJsonSchema({"type": "string", "description": "Search terms, split like a shell command line."}),
]
QueryUnit = Annotated[str, BeforeValidator(to_query_unit), WithJsonSchema({"type": "string"})]
