"""The commitments (soft goals with prices) of one storage schedule, from per-slot arrays in internal units.

Prices per MWh apply to energy (so they are multiplied by the slot length ``tau``), prices per MW to the height
of a deviation ("any": the worst slot, once) or its area ("each": every slot, times ``tau``). SoC breach prices are
per MWh: the worst shortfall costs ``ρ`` per MWh, and every instant's shortfall ``ρ·τ`` per MWh (as FlexMeasures
documents it, independent of the resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.scheduler.program import Array, Commitment
from shared.errors import SchedulingFailed


@dataclass(frozen=True)
class Breach:
    """A limit made soft by a price: ``limit`` per slot (nan: no limit), ``price`` per slot."""

    limit: Array
    price: Array
    field: str  # the flex-context field name of the price, for error messages


@dataclass(frozen=True)
class ObjectiveInputs:
    tau: float
    consumption_price: Array  # per MWh
    production_price: Array  # per MWh
    prefer_charging_sooner: bool = True
    prefer_curtailing_later: bool = True
    peak_consumption: Breach | None = None  # limit = the peak already reached (MW)
    peak_production: Breach | None = None
    site_consumption: Breach | None = None  # limit = C^c (MW)
    site_production: Breach | None = None  # limit = C^p (MW, positive)
    device_consumption: Breach | None = None  # limit = Ĉ
    device_production: Breach | None = None  # limit = P̂ (positive)
    soc_minima: Breach | None = None  # limit = m (MWh), price per MWh
    soc_maxima: Breach | None = None  # limit = M (MWh)


def ramp(n: int, epsilon: float) -> Array:
    """lin_j(ε) = ε·j/(N−1): 0 in the first slot, ε in the last."""
    if n <= 1:
        return np.zeros(n)
    return epsilon * np.arange(n) / (n - 1)


def _epsilon(values: Array) -> float:
    spread = float(np.nanmax(values) - np.nanmin(values)) if values.size else 0.0
    return 1e-4 * spread if spread > 0 else 1e-4


def tie_broken_prices(inputs: ObjectiveInputs) -> tuple[Array, Array]:
    n = inputs.consumption_price.size
    if not inputs.prefer_charging_sooner:
        return inputs.consumption_price, inputs.production_price
    return (
        inputs.consumption_price + ramp(n, _epsilon(inputs.consumption_price)),
        inputs.production_price + ramp(n, _epsilon(inputs.production_price)),
    )


def commitments(inputs: ObjectiveInputs) -> tuple[Commitment, ...]:
    tau = inputs.tau
    higher = np.flatnonzero(inputs.production_price > inputs.consumption_price)
    if higher.size:
        j = int(higher[0])
        raise SchedulingFailed(
            "ValueError",
            f"The production price ({inputs.production_price[j]:.6g}) is above the consumption price "
            f"({inputs.consumption_price[j]:.6g}) in slot {j}: the program would be unbounded. Check both prices.",
        )
    consumption, production = tie_broken_prices(inputs)
    production = np.minimum(production, consumption)  # the tie-breaker ramps must not open that gap either
    n = consumption.size
    zero = np.zeros(n)
    found = [Commitment("energy", "site", "each", zero.copy(), tau * consumption, tau * production)]
    if inputs.peak_consumption is not None:
        found.append(_any("consumption peak", "site", inputs.peak_consumption, up=True, scale=1.0))
    peak_production = _negated(inputs.peak_production)
    if peak_production is not None:
        found.append(_any("production peak", "site", peak_production, up=False, scale=1.0))
    for name, scope, breach, up in (
        ("site consumption breach", "site", inputs.site_consumption, True),
        ("site production breach", "site", _negated(inputs.site_production), False),
        ("device consumption breach", "device_power", inputs.device_consumption, True),
        ("device production breach", "device_power", _negated(inputs.device_production), False),
    ):
        if breach is not None:
            found.append(_any(f"any {name}", scope, breach, up=up, scale=1.0))
            found.append(_each(f"all {name}", scope, breach, up=up, scale=tau))
    if inputs.soc_minima is not None:
        found.append(_any("any soc minima", "device_energy", inputs.soc_minima, up=False, scale=1.0))
        found.append(_each("all soc minima", "device_energy", inputs.soc_minima, up=False, scale=tau))
    if inputs.soc_maxima is not None:
        found.append(_any("any soc maxima", "device_energy", inputs.soc_maxima, up=True, scale=1.0))
        found.append(_each("all soc maxima", "device_energy", inputs.soc_maxima, up=True, scale=tau))
    if inputs.prefer_curtailing_later:
        kappa = 0.5 * ramp(n, _epsilon(consumption))
        found.append(Commitment("prefer curtailing later", "device_power", "each", zero.copy(), kappa, -kappa))
    return tuple(found)


def _negated(breach: Breach | None) -> Breach | None:
    return None if breach is None else Breach(-breach.limit, breach.price, breach.field)


def _quantity(limit: Array) -> Array:
    return np.where(np.isfinite(limit), limit, np.nan)


def _each(name: str, scope: str, breach: Breach, *, up: bool, scale: float) -> Commitment:
    price = scale * breach.price
    zero = np.zeros_like(price)
    return Commitment(name, scope, "each", _quantity(breach.limit), price if up else zero, zero if up else -price)  # type: ignore[arg-type]


def _any(name: str, scope: str, breach: Breach, *, up: bool, scale: float) -> Commitment:
    quantity = _quantity(breach.limit)
    applies = ~np.isnan(quantity)
    prices = breach.price[applies] if applies.any() else breach.price
    if prices.size and float(np.nanmax(prices) - np.nanmin(prices)) > 0:
        raise SchedulingFailed(
            "ValueError",
            f"'{breach.field}' must be constant over the planning window (it varies from {np.nanmin(prices):.6g} to "
            f"{np.nanmax(prices):.6g}): it prices the single highest deviation of the window.",
        )
    price = np.full_like(breach.price, scale * (float(prices[0]) if prices.size else 0.0))
    zero = np.zeros_like(price)
    return Commitment(name, scope, "any", quantity, price if up else zero, zero if up else -price)  # type: ignore[arg-type]
