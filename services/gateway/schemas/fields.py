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


MAX_PAGE = 2**31 - 1
MAX_PER_PAGE = 1_000


def to_page(value: Any) -> int:
    number = to_positive_int(value)
    if number > MAX_PAGE:
        raise ValueError(f"Must be less than or equal to {MAX_PAGE}.")
    return number


def to_per_page(value: Any) -> int:
    number = to_positive_int(value)
    if number > MAX_PER_PAGE:
        raise ValueError(f"Must be less than or equal to {MAX_PER_PAGE}.")
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
    except OverflowError:  # an integer beyond any float (e.g. 10**400)
        raise ValueError("Special numeric values (nan or infinity) are not permitted.") from None


def not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("Field may not be null.")
    return value


MAX_EVENT_RESOLUTION = timedelta(days=366)
NUL_TEXT = "Null characters are not allowed."
MAX_UNIT = 80  # sensors.unit; also what a posted or queried unit may be (the unit parser is slow on long texts)
MAX_TERMS = 20  # search terms of a sensor list's ``filter``
MAX_TERM = 200  # characters of one search term


def check_string(value: Any, max_length: int) -> str:
    if not isinstance(not_null(value), str):
        raise ValueError("Not a valid string.")
    if len(value) > max_length:
        raise ValueError(f"Longer than maximum length {max_length}.")
    if "\x00" in value:
        raise ValueError(NUL_TEXT)
    return str(value)


def string(max_length: int) -> BeforeValidator:
    return BeforeValidator(lambda value: check_string(value, max_length))


def to_unit(value: Any) -> str:
    text = check_string(value, MAX_UNIT)
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
    if resolution > MAX_EVENT_RESOLUTION:
        raise ValueError("Event resolution can be at most P366D.")
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
            value = json.loads(value, parse_constant=no_constant)
        except (ValueError, RecursionError):
            raise ValueError("Not a valid JSON string.") from None
    if not isinstance(value, dict):
        raise ValueError("Not a JSON object: attributes must encode a dictionary, e.g. '{\"a\": 1}'.")
    if has_nul(value):
        raise ValueError(NUL_TEXT)
    return value


def no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def has_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds a NUL character in a key or string (``jsonb`` cannot store one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def to_search_terms(value: Any) -> list[str]:
    if isinstance(value, list):
        terms = [str(term) for term in value]
    else:
        if len(str(value)) > MAX_TERMS * MAX_TERM:
            raise ValueError(f"Longer than maximum length {MAX_TERMS * MAX_TERM}.")
        try:
            terms = shlex.split(str(value))
        except ValueError as exc:
            raise ValueError(f"Invalid filter: {exc}.") from None
    if len(terms) > MAX_TERMS or any(len(term) > MAX_TERM for term in terms):
        raise ValueError(f"At most {MAX_TERMS} search terms of at most {MAX_TERM} characters each.")
    if any("\x00" in term for term in terms):
        raise ValueError(NUL_TEXT)
    return terms


def to_query_unit(value: Any) -> str:
    text = check_string(str(value), MAX_UNIT)
    if not is_valid_unit(text):
        raise ValueError(f"Invalid unit: {text}")
    return text


Int = Annotated[int, BeforeValidator(to_int)]
PositiveInt = Annotated[int, BeforeValidator(to_positive_int)]
Page = Annotated[int, BeforeValidator(to_page), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_PAGE})]
PerPage = Annotated[
    int, BeforeValidator(to_per_page), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE})
]
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
