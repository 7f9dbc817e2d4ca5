"""The ``values`` of a data POST: the one-pass reading of a plain list gives what the element-by-element rules give,
and everything else still goes element by element, with the element at fault named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.schemas.data import PostFields, to_value, to_values

FIELDS = {"start": "2024-01-01T00:00:00+00:00", "duration": "PT1H", "unit": "kW"}


def by_element(raw: Any) -> list[float | None]:
    return [to_value(v) for v in to_values(raw)]


@pytest.mark.parametrize(
    "raw",
    [
        [1.5, None, 2, 3.0],
        [None, None],
        [0, -0.0, 10**15, 1e300, -1e300],
        [1e308, 1e308],  # each finite, their sum is not: still accepted
        [int(1.7e308), 1.0],  # an integer close to the largest float
        5,
        7.25,
        ["1.5", 2.0],
    ],
)
def test_accepted_values_are_read_as_the_element_rules_read_them(raw: Any) -> None:
    values = PostFields(values=raw, **FIELDS).values
    assert values == by_element(raw)
    assert all(v is None or type(v) is float for v in values)


@pytest.mark.parametrize(
    ("raw", "at", "message"),
    [
        ([1.0, True], ("values", 1), "Not a valid number."),
        ([1.0, 2.0, float("inf")], ("values", 2), "Special numeric values"),
        ([1.0, float("nan")], ("values", 1), "Special numeric values"),
        ([10**400], ("values", 0), "Special numeric values"),
        ([1.0, "x"], ("values", 1), "Not a valid number."),
        ([1.0, [2.0]], ("values", 1), "Not a valid number."),
        ([], ("values",), "Shorter than minimum length 1."),
    ],
)
def test_refused_values_name_the_element_at_fault(raw: Any, at: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PostFields(values=raw, **FIELDS)
    (error,) = caught.value.errors()
    assert error["loc"] == at
    assert message in error["msg"]
