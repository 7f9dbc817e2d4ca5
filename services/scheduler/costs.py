"""Which commitments (priced soft goals) a storage request implies, built with the commitment helpers.

The energy cost always; the tie-breakers when the flex-model asks for them; a peak commitment per peak price; a pair
of breach commitments (the worst slot, and every slot) per breach price of the flex-context: site limits, device
limits (only when the flex-model itself gives the capacity), SoC minima and maxima (only when the flex-model has
them). Breach and peak prices from sensors or segments keep the previous known value across gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from services.scheduler import commitments
from services.scheduler.program import Array, Commitment
from services.scheduler.series import Inputs, forward_fill, per_slot
from shared.errors import SchedulingFailed
from shared.flex.quantities import SensorRef, Variable
from shared.flex.storage import StorageFlexModel
from shared.flex.trigger import ScheduleRequest

if TYPE_CHECKING:
    from services.scheduler.problem import PowerLimits, SiteLimits, SocSeries


@dataclass(frozen=True)
class Prices:
    consumption: Array  # per MWh, every slot known
    production: Array


def _price(value: Variable | None, unit: str, inputs: Inputs, field: str) -> Array | None:
    if value is None:
        return None
    values = forward_fill(per_slot(value, unit, inputs))
    if np.isnan(values).all():
        where = f" (sensor {value.sensor})" if isinstance(value, SensorRef) else ""
        raise SchedulingFailed("UnknownPricesException", f"'{field}' is unknown for the planning window.{where}")
    return values


def _applies(limit: Array) -> Array:
    """Quantities are nan where there is no limit (an unbounded site limit)."""
    return np.where(np.isfinite(limit), limit, np.nan)


def site_commitments(
    request: ScheduleRequest, inputs: Inputs, prices: Prices, site: SiteLimits, *, prefer_charging_sooner: bool
) -> tuple[tuple[Commitment, ...], Array]:
    """The commitments on the site flow (energy cost, peaks, site breaches), once per program, and the effective
    consumption price the device tie-breakers use."""
    context = request.context
    slot = commitments.first_slot_production_price_above_consumption_price(prices.consumption, prices.production)
    if slot is not None:
        raise SchedulingFailed(
            "ValueError",
            f"The production price ({prices.production[slot]:.6g}) is above the consumption price "
            f"({prices.consumption[slot]:.6g}) in the slot starting {inputs.grid.slot_start(slot).isoformat()}: "
            "selling and buying at once would earn without limit. Check both prices.",
        )
    consumption, production = commitments.effective_prices(
        prices.consumption, prices.production, prefer_charging_sooner=prefer_charging_sooner
    )
    tau = inputs.grid.tau
    found = [commitments.energy(consumption, production, tau)]
    per_mw = f"{context.currency}/MW"

    peak_price = _price(context.site_peak_consumption_price, per_mw, inputs, "site-peak-consumption-price")
    if peak_price is not None:
        peak = np.nan_to_num(forward_fill(per_slot(context.site_peak_consumption, "MW", inputs)), nan=0.0)
        found.append(commitments.peak_consumption(peak, peak_price))
    peak_price = _price(context.site_peak_production_price, per_mw, inputs, "site-peak-production-price")
    if peak_price is not None:
        peak = np.nan_to_num(forward_fill(per_slot(context.site_peak_production, "MW", inputs)), nan=0.0)
        found.append(commitments.peak_production(peak, peak_price))

    price = _price(context.site_consumption_breach_price, per_mw, inputs, "site-consumption-breach-price")
    if price is not None:
        found.extend(commitments.site_consumption_breach(_applies(site.consumption), price, tau))
    price = _price(context.site_production_breach_price, per_mw, inputs, "site-production-breach-price")
    if price is not None:
        found.extend(commitments.site_production_breach(_applies(site.production), price, tau))
    return tuple(found), consumption


def device_commitments(
    request: ScheduleRequest,
    model: StorageFlexModel,
    inputs: Inputs,
    power: PowerLimits,
    soc: SocSeries,
    effective_consumption_price: Array,
    *,
    device: int = 0,
) -> tuple[Commitment, ...]:
    """The commitments of flexible device ``device`` (its capacity and SoC breaches, its curtailing tie-breaker)."""
    context, tau = request.context, inputs.grid.tau
    per_mw, per_mwh = f"{context.currency}/MW", f"{context.currency}/MWh"
    found: list[Commitment] = []
    price = _price(context.consumption_breach_price, per_mw, inputs, "consumption-breach-price")
    if price is not None and model.consumption_capacity_in_flex_model:
        found.extend(commitments.device_consumption_breach(power.consumption, price, tau, device=device))
    price = _price(context.production_breach_price, per_mw, inputs, "production-breach-price")
    if price is not None and model.production_capacity_in_flex_model:
        found.extend(commitments.device_production_breach(power.production, price, tau, device=device))
    price = _price(context.soc_minima_breach_price, per_mwh, inputs, "soc-minima-breach-price")
    if price is not None and model.soc_minima is not None:
        found.extend(commitments.soc_minima_breach(soc.minima, price, tau, device=device))
    price = _price(context.soc_maxima_breach_price, per_mwh, inputs, "soc-maxima-breach-price")
    if price is not None and model.soc_maxima is not None:
        found.extend(commitments.soc_maxima_breach(soc.maxima, price, tau, device=device))
    if model.prefer_curtailing_later:
        found.append(commitments.prefer_curtailing_later(effective_consumption_price, device=device))
    return tuple(found)
