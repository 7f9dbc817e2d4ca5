import time
from datetime import timedelta

import numpy as np
import pytest

from shared import units
from shared.errors import InvalidUnit, UnitMismatch
from shared.units import convert, convertible, currency_per, is_valid_unit, quantity_in

QUARTER = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("unit", "valid"),
    [("", False), ("dimensionless", True), ("kVA", True), ("ct", True), ("EUR/MWh", True), ("m³/h", True),
     ("%", True), ("‰", True), ("kEUR", True), ("°C", True), ("no such unit", False)],
)  # fmt: skip
def test_unit_validity(unit: str, valid: bool) -> None:
    assert is_valid_unit(unit) is valid


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [("kW", "W", True), ("J/s", "W", True), ("l/h", "m³/h", True), ("%", "dimensionless", True),
     ("EUR/MWh", "EUR/kWh", True), ("s", "h", True), ("kWh", "kW", True), ("m³", "m³/h", True),
     ("kW", "kWh", False), ("EUR", "USD", False), ("EUR/MWh", "USD/MWh", False), ("kW", "°C", False),
     ("nonsense", "nonsense", True), ("nonsense", "kW", False)],
)  # fmt: skip
def test_convertible(source: str, target: str, expected: bool) -> None:
    assert convertible(source, target) is expected


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [("kW", "W", 1000), ("kWh", "kW", 4), ("kW", "kWh", 0.25), ("MWh", "kW", 4000), ("EUR/MWh", "EUR/kWh", 0.001),
     ("%", "dimensionless", 0.01), ("kVA", "kW", 1)],
)  # fmt: skip
def test_convert_scales_and_handles_stock_flow_over_the_resolution(source: str, target: str, factor: float) -> None:
    values = np.array([1.0, 2.0, np.nan])
    out = convert(values, source, target, QUARTER)
    assert out[:2] == pytest.approx([factor, 2 * factor])
    assert np.isnan(out[2])  # nulls survive conversion


def test_offset_units_convert() -> None:
    assert convert(np.array([0.0]), "°C", "K", None)[0] == pytest.approx(273.15)


@pytest.mark.parametrize(
    ("source", "target", "resolution"),
    [("EUR", "USD", QUARTER), ("kWh", "kW", None), ("kWh", "kW", timedelta(0))],
)
def test_impossible_conversions_raise(source: str, target: str, resolution: timedelta | None) -> None:
    with pytest.raises(UnitMismatch):
        convert(np.array([1.0]), source, target, resolution)


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [("25 kW", "MW", 0.025), ("25kW", "MW", 0.025), ("90%", "dimensionless", 0.9), ("0.29 EUR/kWh", "EUR/MWh", 290.0),
     ("1 kEUR/MWh", "EUR/MWh", 1000.0), ("500 kWh", "MWh", 0.5)],
)  # fmt: skip
def test_quantity_in(text: str, unit: str, expected: float) -> None:
    assert quantity_in(text, unit) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "unit", "error"), [("1 kW", "MWh", UnitMismatch), ("x", "MW", InvalidUnit)])
def test_quantity_in_errors(text: str, unit: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        quantity_in(text, unit)


@pytest.mark.parametrize(
    ("text", "denominator", "currency"),
    [("EUR/MWh", "MWh", "EUR"), ("30 kEUR/kWh", "MWh", "EUR"), ("KRW/kW", "MW", "KRW"), ("EUR/kW", "MWh", None),
     ("kW", "MW", None), ("EUR", "MWh", None), ("garbage", "MWh", None)],
)  # fmt: skip
def test_currency_per(text: str, denominator: str, currency: str | None) -> None:
    assert currency_per(text, denominator) == currency


@pytest.mark.parametrize("text", ["/¥\x93{J", "(", "kW)", "[", "{", "1/0"])
def test_text_that_breaks_the_parser_is_no_unit(text: str) -> None:
    assert not units.is_valid_unit(text)  # pint's tokenizer raised TokenError here (a 500)


@pytest.mark.parametrize("text", ["9**9**9", "9 ** 9 ** 9", "10^10^10", "10**(10**10)", "m**200", "2**1000"])
def test_huge_powers_are_refused_without_evaluating_them(text: str) -> None:
    """pint computes ``9**9**9`` exactly (minutes of CPU on the event loop): refused before it is parsed."""
    started = time.monotonic()
    assert not units.is_valid_unit(text)
    with pytest.raises(InvalidUnit):
        units.quantity_in(f"{text} kW", "MW")
    assert units.currency_per(f"{text} EUR/MWh", "MWh") is None
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("text", ["m/s**2", "m^2", "kg*m**2/s**2", "m**-1", "m ** 2", "m**0.5"])
def test_ordinary_powers_still_work(text: str) -> None:
    assert units.is_valid_unit(text)


def test_a_quantity_is_parsed_once_and_a_failure_every_time() -> None:
    units.quantity_in.cache_clear()
    assert units.quantity_in("50 kW", "MW") == units.quantity_in("50 kW", "MW") == pytest.approx(0.05)
    assert units.quantity_in.cache_info().hits == 1
    for _ in range(2):
        with pytest.raises(InvalidUnit):
            units.quantity_in("50 kW kW (", "MW")
        with pytest.raises(UnitMismatch):
            units.quantity_in("50 kWh", "MW")
    assert units.quantity_in.cache_info().currsize == 1  # failures are raised again, not remembered


@pytest.mark.parametrize(
    ("unit", "target"),
    [("kWh", "MWh"), ("kW", "MW"), ("%", "dimensionless"), ("EUR/kWh", "EUR/MWh"), ("kEUR/MWh", "EUR/MWh"),
     ("W", "kW"), ("MWh", "kWh"), ("degC", "K"), ("kWh", "MW")],
)  # fmt: skip
def test_a_number_in_a_plain_unit_converts_exactly_as_pint_converts_it(unit: str, target: str) -> None:
    """The remembered factor of a plain unit gives pint's own float, bit for bit (and pint's error where it
    raises one); an offset unit (°C) is left to pint."""
    numbers = [0, 1, -1, 0.1, 100.1, 180, 1e-3, 2.5e6, -42.125, 0.3333333, 95]
    for number in numbers:
        for text in (f"{number} {unit}", f"{number}{unit}"):
            try:
                expected: float | str = units._pint_quantity_in(text, target)
            except (InvalidUnit, UnitMismatch) as exc:
                expected = str(exc)
            try:
                got: float | str = units.quantity_in(text, target)
            except (InvalidUnit, UnitMismatch) as exc:
                got = str(exc)
            assert got == expected, text


def test_a_new_number_in_a_unit_seen_before_is_not_parsed_by_pint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state of charge differs from one trigger to the next: only its unit is parsed, once."""
    assert units.quantity_in("100.1 kWh", "MWh") == pytest.approx(0.1001)

    def refuse(text: str, unit: str) -> float:
        raise AssertionError(f"pint parsed {text!r}")

    monkeypatch.setattr(units, "_pint_quantity_in", refuse)
    assert units.quantity_in("123.45 kWh", "MWh") == pytest.approx(0.12345)
    assert units.quantity_in("-7 kWh", "MWh") == pytest.approx(-0.007)
    with pytest.raises(AssertionError):  # an offset unit still goes through pint
        units.quantity_in("21 degC", "K")
