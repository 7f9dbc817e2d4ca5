"""Interim commitment helpers, with the same functions and signatures as ``services/scheduler/commitments.py``
(the solver side's module, not yet on this branch): ``problem.py`` imports this module under that name, so
switching to the real one is a one-line change, after which this module is deleted.

Units as in program.py: power MW, energy MWh, prices per MWh (energy and state-of-charge breach prices) or per MW
(peak and capacity breach prices). Quantities are ``nan`` where a commitment does not apply. The decisions follow
the solver side's: state-of-charge breach prices with FlexMeasures 0.27.4's effective factors (the worst shortfall
at ``ρ/τ``, every shortfall at ``ρ_j``), and the largest price of the window for commitments on the worst slot.
"""

from __future__ import annotations

import numpy as np

from services.scheduler.program import Array, Commitment, Scope

TIE_BREAK = 1e-4


def ramp(price: Array, *, scale: float = 1.0) -> Array:
    """``lin_j(ε) = ε·j/(N − 1)``, ``ε = TIE_BREAK ×`` the spread of ``price`` (``TIE_BREAK`` when flat)."""
    n = len(price)
    spread = float(np.max(price) - np.min(price)) if n else 0.0
    epsilon = TIE_BREAK * spread if spread > 0 else TIE_BREAK
    if n < 2:
        return np.zeros(n)
    return scale * epsilon * np.arange(n) / (n - 1)


def first_slot_production_price_above_consumption_price(
    consumption_price: Array, production_price: Array
) -> int | None:
    above = np.flatnonzero(production_price > consumption_price)
    return int(above[0]) if above.size else None


def effective_prices(
    consumption_price: Array, production_price: Array, *, prefer_charging_sooner: bool = True
) -> tuple[Array, Array]:
    """The energy prices with the ``prefer-charging-sooner`` ramps; the ramped production price never exceeds the
    ramped consumption price where the raw prices are in that order."""
    if not prefer_charging_sooner:
        return consumption_price.astype(np.float64), production_price.astype(np.float64)
    consumption = consumption_price + ramp(consumption_price)
    production = production_price + ramp(production_price)
    ordered = production_price <= consumption_price
    return consumption, np.where(ordered, np.minimum(production, consumption), production)


def energy(consumption_price: Array, production_price: Array, tau: float) -> Commitment:
    n = len(consumption_price)
    return Commitment("energy", "site", "each", np.zeros(n), tau * consumption_price, tau * production_price)


def prefer_curtailing_later(effective_consumption_price: Array, *, device: int = 0) -> Commitment:
    kappa = ramp(effective_consumption_price, scale=0.5)
    n = len(kappa)
    return Commitment("prefer curtailing later", "device_power", "each", np.zeros(n), kappa, -kappa, device)


def _window_price(price: Array) -> float:
    if not np.any(np.isfinite(price)):
        raise ValueError("a commitment price must be known in at least one slot")
    return float(np.nanmax(price))


def peak_consumption(peak: Array, price: Array) -> Commitment:
    n = len(peak)
    up = np.full(n, _window_price(price))
    return Commitment("consumption peak", "site", "any", peak.astype(np.float64), up, np.zeros(n))


def peak_production(peak: Array, price: Array) -> Commitment:
    n = len(peak)
    down = np.full(n, -_window_price(price))
    return Commitment("production peak", "site", "any", -peak.astype(np.float64), np.zeros(n), down)


def _breach(
    name: str, scope: Scope, quantity: Array, price: Array, tau: float, *, upward: bool, device: int = 0
) -> tuple[Commitment, Commitment]:
    n = len(quantity)
    zero = np.zeros(n)
    height = np.full(n, _window_price(price))
    area = tau * price
    if upward:
        return (
            Commitment(f"any {name}", scope, "any", quantity, height, zero, device),
            Commitment(f"all {name}", scope, "each", quantity, area, zero, device),
        )
    return (
        Commitment(f"any {name}", scope, "any", quantity, zero, -height, device),
        Commitment(f"all {name}", scope, "each", quantity, zero, -area, device),
    )


def site_consumption_breach(capacity: Array, price: Array, tau: float) -> tuple[Commitment, Commitment]:
    return _breach("site consumption breach", "site", capacity.astype(np.float64), price, tau, upward=True)


def site_production_breach(capacity: Array, price: Array, tau: float) -> tuple[Commitment, Commitment]:
    return _breach("site production breach", "site", -capacity.astype(np.float64), price, tau, upward=False)


def device_consumption_breach(
    capacity: Array, price: Array, tau: float, *, device: int = 0
) -> tuple[Commitment, Commitment]:
    quantity = capacity.astype(np.float64)
    return _breach("device consumption breach", "device_power", quantity, price, tau, upward=True, device=device)


def device_production_breach(
    capacity: Array, price: Array, tau: float, *, device: int = 0
) -> tuple[Commitment, Commitment]:
    quantity = -capacity.astype(np.float64)
    return _breach("device production breach", "device_power", quantity, price, tau, upward=False, device=device)


def soc_minima_breach(minima: Array, price: Array, tau: float, *, device: int = 0) -> tuple[Commitment, Commitment]:
    n = len(minima)
    zero = np.zeros(n)
    quantity = minima.astype(np.float64)
    height = np.full(n, -_window_price(price) / tau)
    return (
        Commitment("any soc minima breach", "device_energy", "any", quantity, zero, height, device),
        Commitment("all soc minima breach", "device_energy", "each", quantity, zero, -price.astype(np.float64), device),
    )


def soc_maxima_breach(maxima: Array, price: Array, tau: float, *, device: int = 0) -> tuple[Commitment, Commitment]:
    n = len(maxima)
    zero = np.zeros(n)
    quantity = maxima.astype(np.float64)
    height = np.full(n, _window_price(price) / tau)
    return (
        Commitment("any soc maxima breach", "device_energy", "any", quantity, height, zero, device),
        Commitment("all soc maxima breach", "device_energy", "each", quantity, price.astype(np.float64), zero, device),
    )
