"""From a validated schedule request and its sensors' data to the arrays the solver takes (program.py), and back.

* ``needs(request)``: which sensor series the loader must read (per slot or per instant);
* ``build(request, sensors, series)``: the ``Program`` of one device, ``build_joint`` that of several devices
  sharing the site (raises ``SchedulingFailed`` with a reason a user can act on:
  unknown prices, no power capacity, conflicting SoC constraints, unusable units);
* ``build_fallback_inputs``, ``build_process_inputs``: the inputs of the fallback and the process scheduler;
* ``to_sensor_values`` / ``to_soc_values``: a solution in the power sensor's (and SoC sensor's) unit and sign.

The rules (gap filling, overlaps, defaults, signs) are described in docs/scheduling.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from services.scheduler import costs, precheck
from services.scheduler.outputs import schedule_values, to_sensor_values, to_soc_values
from services.scheduler.program import Array, Device, Program
from services.scheduler.series import (
    Grid,
    Inputs,
    SeriesNeed,
    fill_edges,
    interior_gaps,
    per_instant,
    per_slot,
)
from shared.errors import SchedulingFailed
from shared.flex.context import FlexContext
from shared.flex.process import ProcessFlexModel, ProcessType
from shared.flex.quantities import SensorRef, Variable
from shared.flex.storage import StorageFlexModel
from shared.flex.trigger import ScheduleRequest, SensorFacts
from shared.flex.window import slot_count

__all__ = [
    "SeriesNeed",
    "build",
    "build_joint",
    "build_fallback_inputs",
    "build_process_inputs",
    "needs",
    "schedule_values",
    "to_sensor_values",
    "to_soc_values",
]

NO_POWER_CAPACITY = "Power capacity is not defined in the sensor attributes or the flex-model."
SOC_FIELDS = ("soc_minima", "soc_maxima", "soc_targets")
CONTEXT_FLOW_FIELDS = tuple(name for name in FlexContext.model_fields if name not in ("currency",))
MODEL_FLOW_FIELDS = (
    "power_capacity",
    "consumption_capacity",
    "production_capacity",
    "charging_efficiency",
    "discharging_efficiency",
    "storage_efficiency",
)


def grid_of(request: ScheduleRequest) -> Grid:
    return Grid(request.start, request.resolution, slot_count(request.start, request.end, request.resolution))


def needs(request: ScheduleRequest) -> list[SeriesNeed]:
    """Every sensor series the job reads, each once: per slot for flows and prices, per instant for SoC."""
    found: list[SeriesNeed] = []

    def add(value: object, kind: Literal["flow", "instant"]) -> None:
        if isinstance(value, SensorRef) and SeriesNeed(value.sensor, kind) not in found:
            found.append(SeriesNeed(value.sensor, kind))

    context = request.context
    for name in CONTEXT_FLOW_FIELDS:
        add(getattr(context, name), "flow")
    for sensor_id in context.inflexible_device_sensors:
        add(SensorRef(sensor=sensor_id), "flow")
    model = request.storage
    if model is not None:
        for name in MODEL_FLOW_FIELDS:
            add(getattr(model, name), "flow")
        for value in (*model.soc_gain, *model.soc_usage):
            add(value, "flow")
        for name in SOC_FIELDS:
            add(getattr(model, name), "instant")
    return found


def _price_unit(context: FlexContext, per: str) -> str:
    return f"{context.currency}/{per}"


def prices(request: ScheduleRequest, inputs: Inputs) -> tuple[Array, Array]:
    """Consumption and production price per slot (currency/MWh). Edge gaps take the nearest known price;
    an interior gap or no price at all fails the job, naming the sensor and the slot."""
    context = request.context
    consumption = _price(context.consumption_price, context, inputs, "consumption-price")
    if context.production_price is None:
        return consumption, consumption.copy()
    return consumption, _price(context.production_price, context, inputs, "production-price")


def _price(value: Variable | None, context: FlexContext, inputs: Inputs, field: str) -> Array:
    where = f" (sensor {value.sensor})" if isinstance(value, SensorRef) else ""
    raw = per_slot(value, _price_unit(context, "MWh"), inputs)
    if np.isnan(raw).all():
        raise SchedulingFailed("UnknownPricesException", f"Prices unknown for planning window.{where}")
    gaps = interior_gaps(raw)
    if gaps:
        first = inputs.grid.slot_start(gaps[0]).isoformat()
        raise SchedulingFailed(
            "UnknownPricesException",
            f"Prices unknown for planning window.{where} '{field}' has no price for {len(gaps)} slot(s) "
            f"inside the window, the first starting {first}.",
        )
    return fill_edges(raw)


@dataclass(frozen=True)
class SiteLimits:
    capacity: Array
    consumption: Array  # C^c
    production: Array  # C^p (positive)
    lower: Array
    upper: Array


def site_limits(context: FlexContext, inputs: Inputs) -> SiteLimits:
    capacity = per_slot(context.site_power_capacity, "MW", inputs, "min")
    capacity = np.fmax(np.where(np.isnan(capacity), np.inf, capacity), 0.0)
    consumption = np.fmin(per_slot(context.site_consumption_capacity, "MW", inputs, "min"), capacity)
    production = np.fmin(per_slot(context.site_production_capacity, "MW", inputs, "min"), capacity)
    consumption, production = np.fmax(consumption, 0.0), np.fmax(production, 0.0)
    upper = capacity if context.site_consumption_breach_price is not None else consumption
    lower = -(capacity if context.site_production_breach_price is not None else production)
    return SiteLimits(capacity, consumption, production, lower, upper)


def inflexible_flow(context: FlexContext, inputs: Inputs) -> Array:
    """Summed flow of the inflexible devices in MW, consumption positive. Stored data counts as
    production-positive unless the sensor's ``consumption_is_positive`` attribute is true; gaps count as 0."""
    total = np.zeros(inputs.grid.n)
    for sensor_id in context.inflexible_device_sensors:
        values = np.nan_to_num(per_slot(SensorRef(sensor=sensor_id), "MW", inputs), nan=0.0)
        positive = inputs.sensors[sensor_id].attributes.get("consumption_is_positive") is True
        total += values if positive else -values
    return total


@dataclass(frozen=True)
class PowerLimits:
    capacity: Array  # P̄
    consumption: Array  # Ĉ
    production: Array  # P̂
    lower: Array
    upper: Array


def device_power(request: ScheduleRequest, model: StorageFlexModel, inputs: Inputs) -> PowerLimits:
    if model.power_capacity is None:
        raise SchedulingFailed("ValueError", NO_POWER_CAPACITY)
    capacity = per_slot(model.power_capacity, "MW", inputs, "min")
    missing = np.flatnonzero(np.isnan(capacity))
    if missing.size:
        first = inputs.grid.slot_start(int(missing[0])).isoformat()
        raise SchedulingFailed(
            "ValueError", f"{NO_POWER_CAPACITY} The power capacity is unknown from {first} ({missing.size} slot(s))."
        )
    capacity = np.fmax(capacity, 0.0)
    consumption = np.fmax(np.fmin(per_slot(model.consumption_capacity, "MW", inputs, "min"), capacity), 0.0)
    production = np.fmax(np.fmin(per_slot(model.production_capacity, "MW", inputs, "min"), capacity), 0.0)
    context = request.context
    soft_consumption = context.consumption_breach_price is not None and model.consumption_capacity_in_flex_model
    soft_production = context.production_breach_price is not None and model.production_capacity_in_flex_model
    upper = capacity.copy() if soft_consumption else consumption
    lower = -(capacity.copy() if soft_production else production)
    if model.producer_only:
        upper = np.zeros_like(upper)
    if model.consumer_only:
        lower = np.zeros_like(lower)
    return PowerLimits(capacity, consumption, production, lower, upper)


def _efficiency(value: Variable, inputs: Inputs, field: str) -> Array:
    values = np.nan_to_num(per_slot(value, "dimensionless", inputs), nan=1.0)
    if field != "storage-efficiency" and (values <= 0).any():
        raise SchedulingFailed("ValueError", f"'{field}' must be positive; it is {values.min():.6g} somewhere.")
    return values


@dataclass(frozen=True)
class SocSeries:
    minima: Array  # m_j at t_{j+1}, nan where none
    maxima: Array  # M_j
    targets: Array  # T_j
    lower: Array  # hard lower bound (targets folded in)
    upper: Array  # hard upper bound (targets folded in)


def soc_series(request: ScheduleRequest, model: StorageFlexModel, inputs: Inputs) -> SocSeries:
    """Bounds per instant: a listed minimum that overlaps another takes the larger value, a maximum the smaller,
    a target the later segment's; everything is clipped to [soc-min, soc-max]. Soft minima/maxima (with a
    breach price) leave the hard bounds at soc-min/soc-max."""
    minima = per_instant(model.soc_minima, "MWh", inputs, "max")
    maxima = per_instant(model.soc_maxima, "MWh", inputs, "min")
    targets = per_instant(model.soc_targets, "MWh", inputs, "last")
    s_min, s_max = model.soc_min, model.soc_max
    context = request.context
    hard_min = minima if context.soc_minima_breach_price is None else np.full_like(minima, np.nan)
    hard_max = maxima if context.soc_maxima_breach_price is None else np.full_like(maxima, np.nan)
    lower = np.clip(np.where(np.isnan(hard_min), s_min, hard_min), s_min, s_max)
    upper = np.clip(np.where(np.isnan(hard_max), s_max, hard_max), s_min, s_max)
    has_target = ~np.isnan(targets)
    folded_lower = np.where(has_target, np.maximum(lower, np.minimum(targets, upper)), lower)
    folded_upper = np.where(has_target, np.minimum(upper, np.maximum(targets, lower)), upper)
    conflicting = has_target & ((targets < lower - 1e-9) | (targets > upper + 1e-9))
    # a target outside its bounds is a conflict the pre-check reports: keep lower > upper there
    folded_lower = np.where(conflicting, np.maximum(lower, targets), folded_lower)
    folded_upper = np.where(conflicting, np.minimum(upper, targets), folded_upper)
    return SocSeries(minima, maxima, targets, folded_lower, folded_upper)


def _gain(model: StorageFlexModel, inputs: Inputs) -> Array:
    total = np.zeros(inputs.grid.n)
    for value in model.soc_gain:
        total += np.nan_to_num(per_slot(value, "MW", inputs), nan=0.0)
    for value in model.soc_usage:
        total -= np.nan_to_num(per_slot(value, "MW", inputs), nan=0.0)
    return total


def build(request: ScheduleRequest, sensors: Mapping[int, SensorFacts], series: Mapping[SeriesNeed, Array]) -> Program:
    """The program of one flexible device."""
    return build_joint((request,), sensors, series)


@dataclass(frozen=True)
class _DeviceParts:
    device: Device
    power: PowerLimits
    soc: SocSeries


def _device_parts(request: ScheduleRequest, model: StorageFlexModel, inputs: Inputs) -> _DeviceParts:
    power = device_power(request, model, inputs)
    soc = soc_series(request, model, inputs)
    device = Device(
        sensor_id=request.sensor_id,
        soc_start=model.soc_at_start,
        soc_lower=soc.lower,
        soc_upper=soc.upper,
        power_lower=power.lower,
        power_upper=power.upper,
        charging_efficiency=_efficiency(model.charging_efficiency, inputs, "charging-efficiency"),
        discharging_efficiency=_efficiency(model.discharging_efficiency, inputs, "discharging-efficiency"),
        storage_efficiency=np.clip(_efficiency(model.storage_efficiency, inputs, "storage-efficiency"), 0.0, 1.0),
        gain=_gain(model, inputs),
    )
    precheck.check(device, inputs.grid, soc.targets)
    return _DeviceParts(device, power, soc)


def build_joint(
    requests: Sequence[ScheduleRequest],
    sensors: Mapping[int, SensorFacts],
    series: Mapping[SeriesNeed, Array],
    *,
    scheduled: Array | None = None,
) -> Program:
    """One program for several flexible devices: one ``Device`` each with its own constraints and commitments,
    the site limits, inflexible flow and site commitments (energy cost, peaks, site breaches) once, from the
    first request's flex-context (an asset-level trigger gives every device the same one, window and grid).
    ``scheduled``: the flow (MW, consumption positive) of devices scheduled before, counted as inflexible."""
    first = requests[0]
    if any(r.storage is None for r in requests):
        raise ValueError("build() is for the StorageScheduler; use build_process_inputs() for processes")
    grid = grid_of(first)
    inputs = Inputs(sensors, series, grid)
    context = first.context
    consumption_price, production_price = prices(first, inputs)
    site = site_limits(context, inputs)
    inflexible = inflexible_flow(context, inputs)
    if scheduled is not None:
        inflexible = inflexible + scheduled
    parts = [_device_parts(r, r.storage, inputs) for r in requests if r.storage is not None]
    prefer_sooner = all(r.storage.prefer_charging_sooner for r in requests if r.storage is not None)
    found, effective = costs.site_commitments(
        first, inputs, costs.Prices(consumption_price, production_price), site, prefer_charging_sooner=prefer_sooner
    )
    for index, (request, part) in enumerate(zip(requests, parts, strict=True)):
        assert request.storage is not None
        found += costs.device_commitments(request, request.storage, inputs, part.power, part.soc, effective,
                                          device=index)  # fmt: skip
    bounds = np.concatenate([*(np.concatenate([p.power.lower, p.power.upper]) for p in parts), inflexible])
    finite = np.abs(bounds[np.isfinite(bounds)])
    return Program(
        n=grid.n,
        tau=grid.tau,
        devices=tuple(p.device for p in parts),
        inflexible=inflexible,
        site_lower=site.lower,
        site_upper=site.upper,
        commitments=found,
        big_m=max(1.0, float(finite.max()) if finite.size else 1.0),
    )


@dataclass(frozen=True)
class FallbackInputs:
    """What the fallback scheduler needs: the program plus the device's one-directional flags and the targets."""

    program: Program
    soc_targets: Array  # MWh at t_{j+1}, nan where none
    is_consumer: bool
    is_producer: bool

    @property
    def first_target(self) -> float | None:
        """The first defined SoC target in MWh (what the fallback steers towards), None without targets."""
        defined = self.soc_targets[~np.isnan(self.soc_targets)]
        return float(defined[0]) if defined.size else None


def build_fallback_inputs(
    request: ScheduleRequest, sensors: Mapping[int, SensorFacts], series: Mapping[SeriesNeed, Array]
) -> FallbackInputs:
    """Same inputs as ``build`` (the fallback runs after the solver reported infeasibility)."""
    model = request.storage
    assert model is not None
    program = build(request, sensors, series)
    inputs = Inputs(sensors, series, grid_of(request))
    sensor = sensors[request.sensor_id]

    def flag(name: str) -> bool:
        return bool(sensor.attributes.get(name, sensor.asset_attributes.get(name)))

    return FallbackInputs(program, soc_series(request, model, inputs).targets, flag("is_consumer"), flag("is_producer"))


@dataclass(frozen=True)
class ProcessInputs:
    n: int
    tau: float
    consumption_price: Array  # per MWh, per slot
    power: float  # in the power sensor's unit, as given
    slots: int  # ⌈duration/Δ⌉ slots to fill
    blocked: Array  # bool per slot: inside a time restriction
    process_type: ProcessType
    optimization_sense: Literal["MIN", "MAX"]


def build_process_inputs(
    request: ScheduleRequest, sensors: Mapping[int, SensorFacts], series: Mapping[SeriesNeed, Array]
) -> ProcessInputs:
    process: ProcessFlexModel | None = request.process
    if process is None:
        raise ValueError("build_process_inputs() is for the ProcessScheduler")
    grid = grid_of(request)
    inputs = Inputs(sensors, series, grid)
    price = _price(request.context.consumption_price, request.context, inputs, "consumption-price")
    blocked = np.zeros(grid.n, dtype=bool)
    for restriction in process.time_restrictions:
        for j in range(grid.n):
            slot_start = grid.slot_start(j)
            if (
                slot_start < restriction.start + restriction.duration
                and slot_start + grid.resolution > restriction.start
            ):
                blocked[j] = True
    slots = -(-process.duration // request.resolution)
    return ProcessInputs(
        grid.n, grid.tau, price, process.power, slots, blocked, process.process_type, process.optimization_sense
    )
