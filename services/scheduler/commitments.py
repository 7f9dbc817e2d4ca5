"""The commitments (soft goals with prices) of the storage program, made from per-slot arrays.

Each function returns one ``Commitment`` (or a pair, for the breach commitments that come as an "any" and an
"each" one) in the program's internal units: power in MW, energy in MWh, prices per MWh (energy prices and the
state-of-charge breach prices) or per MW (peak and capacity breach prices), all in the shared currency. Quantities
are ``nan`` where the commitment does not apply. The problem builder decides which commitments a request implies;
these functions only shape them. See docs/scheduling.md, "The optimisation program".

Decisions on FlexMeasures' open points that concern the objective:

* A production price above the consumption price in some slot would make the program unbounded (selling and
  buying in the same slot earns without limit). FlexStream refuses such a request before solving:
  ``first_slot_production_price_above_consumption_price`` names the first offending slot for the builder's error.
* State-of-charge breach prices carry the factors FlexMeasures 0.27.4 effectively applies, which are ``1/τ`` times
  the documented ones (identical for hourly sensors), so that FlexStream finds the same optimum.
* Time-varying prices on "any" commitments (peaks, breach heights): FlexMeasures fails the job; FlexStream charges
  the largest price over the window, the most cautious constant (identical whenever the price is in fact constant).
"""

from __future__ import annotations

import numpy as np

from services.scheduler.program import Array, Commitment, Scope

TIE_BREAK = 1e-4
"""The tie-breaker ramps rise by this fraction of a price series' spread over the window (or by this much when the
series is flat)."""


def ramp(price: Array, *, scale: float = 1.0) -> Array:
    """``lin_j(ε) = ε·j/(N − 1)`` with ``ε = TIE_BREAK × spread`` of ``price`` (``TIE_BREAK`` when flat), times
    ``scale``. Zero for a single slot."""
    n = len(price)
    spread = float(np.max(price) - np.min(price)) if n else 0.0
    epsilon = TIE_BREAK * spread if spread > 0 else TIE_BREAK
    if n < 2:
        return np.zeros(n)
    return scale * epsilon * np.arange(n) / (n - 1)


def _check_prices(consumption_price: Array, production_price: Array) -> None:
    if consumption_price.shape != production_price.shape:
        raise ValueError("consumption and production prices must cover the same slots")
    if not (np.all(np.isfinite(consumption_price)) and np.all(np.isfinite(production_price))):
        raise ValueError("energy prices must be known in every slot (the problem builder fills gaps)")


def first_slot_production_price_above_consumption_price(
    consumption_price: Array, production_price: Array
) -> int | None:
    """The first slot whose production price exceeds its consumption price, or None.

    Such a program is unbounded (buy and sell at once for a profit), so the problem builder refuses the request
    and names this slot, instead of leaving the outcome to the solver as FlexMeasures does.
    """
    _check_prices(consumption_price, production_price)
    above = np.flatnonzero(production_price > consumption_price)
    return int(above[0]) if above.size else None


def effective_prices(
    consumption_price: Array, production_price: Array, *, prefer_charging_sooner: bool = True
) -> tuple[Array, Array]:
    """``π'^c, π'^p``: the energy prices with the ``prefer-charging-sooner`` ramps (later consumption costs slightly
    more, later production earns slightly more), or the prices themselves without it.

    The ramps of the two series differ when their spreads differ, so a production price equal to the consumption
    price could end up slightly above it and make the program unbounded; the ramped production price is therefore
    capped at the ramped consumption price wherever the raw prices respect that order.
    """
    _check_prices(consumption_price, production_price)
    if not prefer_charging_sooner:
        return consumption_price.astype(np.float64), production_price.astype(np.float64)
    consumption = consumption_price + ramp(consumption_price)
    production = production_price + ramp(production_price)
    ordered = production_price <= consumption_price
    production = np.where(ordered, np.minimum(production, consumption), production)
    return consumption, production


def energy(consumption_price: Array, production_price: Array, tau: float) -> Commitment:
    """The site's energy cost: per slot ``τ(π'^c P⁺ − π'^p P⁻)`` from the (effective) prices per MWh."""
    _check_prices(consumption_price, production_price)
    n = len(consumption_price)
    return Commitment("energy", "site", "each", np.zeros(n), tau * consumption_price, tau * production_price)


def prefer_curtailing_later(effective_consumption_price: Array, *, device: int = 0) -> Commitment:
    """``Σ_j κ_j |p[d,j]|`` with ``κ_j = ½ lin_j(ε')`` from the spread of ``π'^c`` (no τ factor): a device's flow
    costs slightly more later in the window, so curtailment happens as late as possible."""
    kappa = ramp(effective_consumption_price, scale=0.5)
    n = len(kappa)
    return Commitment("prefer curtailing later", "device_power", "each", np.zeros(n), kappa, -kappa, device)


def _window_price(price: Array) -> float:
    """The constant price of an "any" commitment: the largest over the window (see the module docstring)."""
    if not np.any(np.isfinite(price)):
        raise ValueError("a commitment price must be known in at least one slot")
    return float(np.nanmax(price))


def peak_consumption(peak: Array, price: Array) -> Commitment:
    """``ρ · max(0, max_j (P_j − peak_j))``: consumption above the peak already reached."""
    n = len(peak)
    up = np.full(n, _window_price(price))
    return Commitment("consumption peak", "site", "any", peak.astype(np.float64), up, np.zeros(n))


def peak_production(peak: Array, price: Array) -> Commitment:
    """``ρ · max(0, max_j (−P_j − peak_j))``: production above the peak already reached."""
    n = len(peak)
    down = np.full(n, -_window_price(price))
    return Commitment("production peak", "site", "any", -peak.astype(np.float64), np.zeros(n), down)


def _breach(
    name: str, scope: Scope, quantity: Array, price: Array, tau: float, *, upward: bool, device: int = 0
) -> tuple[Commitment, Commitment]:
    """The "any" commitment (height of the worst breach, price ``ρ``) and the "each" one (its area, ``τρ_j``)."""
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
    """Site consumption above ``C^c_j``: ``ρ·max_j breach + Σ_j τρ_j breach_j``."""
    return _breach("site consumption breach", "site", capacity.astype(np.float64), price, tau, upward=True)


def site_production_breach(capacity: Array, price: Array, tau: float) -> tuple[Commitment, Commitment]:
    """Site production above ``C^p_j`` (``capacity`` as a positive number)."""
    return _breach("site production breach", "site", -capacity.astype(np.float64), price, tau, upward=False)


def device_consumption_breach(
    capacity: Array, price: Array, tau: float, *, device: int = 0
) -> tuple[Commitment, Commitment]:
    """The device charging above its consumption capacity ``Ĉ_j``."""
    quantity = capacity.astype(np.float64)
    return _breach("device consumption breach", "device_power", quantity, price, tau, upward=True, device=device)


def device_production_breach(
    capacity: Array, price: Array, tau: float, *, device: int = 0
) -> tuple[Commitment, Commitment]:
    """The device discharging above its production capacity ``P̂_j`` (``capacity`` as a positive number)."""
    quantity = -capacity.astype(np.float64)
    return _breach("device production breach", "device_power", quantity, price, tau, upward=False, device=device)


def soc_minima_breach(minima: Array, price: Array, tau: float, *, device: int = 0) -> tuple[Commitment, Commitment]:
    """State of charge below the minima ``m_j`` (MWh, indexed by the slot ending at the instant): the worst
    shortfall at ``ρ/τ`` plus every shortfall at ``ρ_j``, FlexMeasures' effective factors (module docstring)."""
    n = len(minima)
    zero = np.zeros(n)
    quantity = minima.astype(np.float64)
    height = np.full(n, -_window_price(price) / tau)
    return (
        Commitment("any soc minima breach", "device_energy", "any", quantity, zero, height, device),
        Commitment("all soc minima breach", "device_energy", "each", quantity, zero, -price.astype(np.float64), device),
    )


def soc_maxima_breach(maxima: Array, price: Array, tau: float, *, device: int = 0) -> tuple[Commitment, Commitment]:
    """State of charge above the maxima ``M_j``: the worst excess at ``ρ/τ`` plus every excess at ``ρ_j``."""
    n = len(maxima)
    zero = np.zeros(n)
    quantity = maxima.astype(np.float64)
    height = np.full(n, _window_price(price) / tau)
    return (
        Commitment("any soc maxima breach", "device_energy", "any", quantity, height, zero, device),
        Commitment("all soc maxima breach", "device_energy", "each", quantity, price.astype(np.float64), zero, device),
    )
