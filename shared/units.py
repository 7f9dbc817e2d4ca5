"""Units as FlexMeasures understands them: pint's defaults plus currencies, ``%`` and ``‰``
(FlexMeasures 0.27 behaviour). Only this module imports pint.
"""

from __future__ import annotations

import functools
import re
import tokenize
from datetime import timedelta

import numpy as np
import pint

from shared.errors import InvalidUnit, UnitMismatch

# ISO 4217 codes (active currencies and a few funds/metals that py-moneyed also knows). Each is a base
# unit of its own dimension, so different currencies never convert into each other.
CURRENCIES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS XUA YER ZAR ZMW ZWL
""".split()


# What pint's parser raises on text that is no unit: its own errors, and whatever its tokenizer and evaluator
# happen to raise (e.g. tokenize.TokenError for an unbalanced bracket).
PARSE_ERRORS = (
    pint.errors.PintError, AttributeError, TypeError, ValueError, AssertionError, SyntaxError, KeyError, IndexError,
    ArithmeticError, tokenize.TokenError, RecursionError,
)  # fmt: skip


@functools.cache
def registry() -> pint.UnitRegistry[float]:
    reg: pint.UnitRegistry[float] = pint.UnitRegistry()
    for code in CURRENCIES:
        if code not in reg:  # a few codes (e.g. CUP) are already units; the pint meaning wins, as in FlexMeasures
            reg.define(f"{code} = [currency_{code}]")
    reg.define("percent = 1 / 100 = %")
    reg.define("permille = 1 / 1000 = ‰")
    reg.formatter.default_format = "~P"
    return reg


def _prepare(unit: str) -> str:
    return unit.replace("%", " percent ").replace("‰", " permille ")


MAX_EXPONENT = 100
# A power operator and the exponent after it; pint evaluates ``9**9**9`` exactly, which takes forever.
_POWER = re.compile(r"\*\*|\^")
_EXPONENT = re.compile(r"\s*[+-]?\d+(\.\d+)?\s*")


def _bounded_powers(text: str) -> bool:
    """Whether every power in ``text`` has a plain number of at most ``MAX_EXPONENT`` as its exponent, itself not
    raised to a power."""
    for power in _POWER.finditer(text):
        exponent = _EXPONENT.match(text, power.end())
        if exponent is None or abs(float(exponent.group(0))) > MAX_EXPONENT:
            return False
        if text.startswith(("**", "^"), exponent.end()):
            return False
    return True


@functools.lru_cache(maxsize=1024)
def _parse(unit: str) -> pint.Quantity[float]:
    reg = registry()
    quantity: pint.Quantity[float] | None
    try:
        quantity = reg.Quantity(1, _prepare(unit)) if unit.strip() and _bounded_powers(unit) else None
    except PARSE_ERRORS:
        quantity = None
    if quantity is None:
        raise InvalidUnit(f"Unit '{unit}' cannot be handled.")
    return quantity


def is_valid_unit(unit: str) -> bool:
    try:
        _parse(unit)
    except InvalidUnit:
        return False
    return True


def _time_exponent(from_unit: str, to_unit: str) -> int | None:
    """0 when the units share a dimension, +1 for stock → flow (ratio is a time), -1 for flow → stock,
    None when they are not related by time at all."""
    ratio = dict(_parse(from_unit).dimensionality / _parse(to_unit).dimensionality)
    if not ratio:
        return 0
    if list(ratio) == ["[time]"] and ratio["[time]"] in (1, -1):
        return int(ratio["[time]"])
    return None


def convertible(from_unit: str, to_unit: str) -> bool:
    """True when values in ``from_unit`` can be expressed in ``to_unit`` (plain scaling, or stock → flow)."""
    if from_unit == to_unit:
        return True
    try:
        return _time_exponent(from_unit, to_unit) in (0, 1)
    except InvalidUnit:
        return False


def check_convertible(unit: str, sensor_unit: str) -> None:
    """``UnitMismatch`` (FlexMeasures' text) unless values in ``unit`` can be read from or stored in a sensor of
    ``sensor_unit``: the one unit-compatibility rule of posts, reads and ingest."""
    if not convertible(unit, sensor_unit):
        raise UnitMismatch(f"Required unit for this sensor is {sensor_unit}, got incompatible unit: {unit}")


def is_energy_unit(unit: str) -> bool:
    return is_valid_unit(unit) and _parse(unit).check("[energy]")


def convert(values: np.ndarray, from_unit: str, to_unit: str, resolution: timedelta | None) -> np.ndarray:
    """Convert an array of values from ``from_unit`` to ``to_unit`` over events of ``resolution``.

    Same dimension: pint's conversion (offsets such as °C → K included). Stock → flow divides by the
    resolution and flow → stock multiplies by it (``kWh`` → ``kW`` at 15 minutes is ×4, ``kW`` → ``kWh``
    ×0.25). NaN stays NaN, so nulls survive conversion (FlexMeasures answers 500 there).
    """
    if from_unit == to_unit:
        return values
    source, target = _parse(from_unit), _parse(to_unit)
    exponent = _time_exponent(from_unit, to_unit)
    if exponent == 0:
        converted = registry().Quantity(values * source.magnitude, source.units).to(target.units)
        result: np.ndarray = np.asarray(converted.magnitude, dtype=float) / target.magnitude
        return result
    if exponent is None:
        raise UnitMismatch(f"Cannot convert {from_unit} to {to_unit}: conversion doesn't seem possible.")
    if resolution is None:
        raise UnitMismatch(f"Cannot convert {from_unit} to {to_unit} without knowing the event resolution.")
    hours = resolution.total_seconds() / 3600
    ratio = (source / target).to_reduced_units()
    if exponent == 1:  # stock → flow
        if hours == 0:
            raise UnitMismatch(f"Cannot convert {from_unit} to {to_unit} for instantaneous events.")
        return values * (float(ratio.to("hour").magnitude) / hours)
    return values * (hours / float((1 / ratio).to("hour").magnitude))  # flow → stock


# A number, then a unit that only multiplies or divides it ("100.1 kWh", "90%", "0.29 EUR/kWh"): no sums, brackets
# or powers, so that the quantity is the number times the same text after a 1.
_NUMBER_THEN_UNIT = re.compile(
    r"\s*(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z%‰/ ]*[A-Za-z%‰])\s*"
)


@functools.lru_cache(maxsize=4096)
def quantity_in(text: str, unit: str) -> float:
    """The magnitude of a quantity string (``"25 kW"``, ``"90%"``, ``"0.29 EUR/kWh"``) expressed in ``unit``.

    Raises ``InvalidUnit`` (with pint's reason) when the text is no quantity, ``UnitMismatch`` when its
    dimension differs from the unit's. Answers are remembered (pint's parsing is most of a trigger's validation,
    and flex-models repeat the same few quantities); failures are not. A number followed by a plain unit is that
    number times the unit's remembered factor: a state of charge differs from one trigger to the next, its unit
    does not.
    """
    plain = _NUMBER_THEN_UNIT.fullmatch(text)
    if plain is not None and (scale := _scale(plain["unit"], unit)) is not None:
        return float(plain["number"]) * scale[0] / scale[1]
    return _pint_quantity_in(text, unit)


@functools.lru_cache(maxsize=1024)
def _scale(plain_unit: str, unit: str) -> tuple[float, float] | None:
    """What ``_pint_quantity_in`` multiplies a number in ``plain_unit`` by and divides it by, to express it in
    ``unit``; None when that is not how it converts (an offset unit such as °C: 0 is not 0) or when it does not
    convert at all (the caller then lets pint raise its error for the whole text)."""
    try:
        if _pint_magnitude(f"0 {plain_unit}", unit) != 0:
            return None
        return _pint_magnitude(f"1 {plain_unit}", unit), float(_parse(unit).magnitude)
    except (InvalidUnit, UnitMismatch, *PARSE_ERRORS):
        return None


def _pint_quantity_in(text: str, unit: str) -> float:
    return _pint_magnitude(text, unit) / float(_parse(unit).magnitude)


def _pint_magnitude(text: str, unit: str) -> float:
    """The magnitude of the quantity ``text`` in the units of ``unit`` (before dividing by the unit's own number)."""
    reg = registry()
    if not _bounded_powers(text):
        raise InvalidUnit(f"exponents must be plain numbers of at most {MAX_EXPONENT}")
    try:
        quantity: pint.Quantity[float] = reg.Quantity(_prepare(text))
    except PARSE_ERRORS as e:
        raise InvalidUnit(str(e)) from None
    target = _parse(unit)
    if not isinstance(quantity, pint.Quantity) or not isinstance(quantity.magnitude, int | float):
        raise InvalidUnit(f"'{text}' is not a number with a unit")
    try:
        return float(quantity.to(target.units).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitMismatch(f"Cannot convert {text} to {unit}.") from None


@functools.lru_cache(maxsize=1024)
def currency_per(unit_or_quantity: str, denominator: str) -> str | None:
    """The currency of a price per ``denominator``: ``"EUR/MWh"`` per ``MWh`` → ``"EUR"``, ``"3 kEUR/kWh"`` too.

    None when the text is no price per that denominator (``"kW"``, ``"EUR/kW"`` per ``MWh``, or not parseable).
    """
    if not _bounded_powers(unit_or_quantity):
        return None
    try:
        quantity = registry().Quantity(_prepare(unit_or_quantity)) * _parse(denominator)
    except PARSE_ERRORS:
        return None
    dimensions = dict(quantity.dimensionality)
    if len(dimensions) != 1:
        return None
    ((dimension, exponent),) = dimensions.items()
    if exponent != 1 or not dimension.startswith("[currency_"):
        return None
    return str(dimension).removeprefix("[currency_").removesuffix("]")
