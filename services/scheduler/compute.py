"""From a validated request and its input series to an outcome: the calls into problem building and solving.

Runs in a worker thread (CPU-bound, synchronous, no I/O). ``problem.py`` turns the request and series into the
array program and converts results to the sensor's unit and sign; ``solve.py`` optimises; ``fallback.py`` and
``process.py`` are the two schedulers without an optimisation model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from services.scheduler import fallback, problem, process, solve
from services.scheduler.program import Array, Program, Solution
from services.scheduler.series import SeriesNeed
from shared.errors import FlexStreamError, SchedulingFailed
from shared.flex import ScheduleRequest, SensorFacts
from shared.sensor_facts import consumption_stored_negative

INFEASIBLE = "InfeasibleProblemException"
TIME_LIMIT = "SolverTimeLimitExceeded"
FALLBACK = "StorageFallbackScheduler"


@dataclass(frozen=True)
class Timing:
    build_seconds: float = 0.0
    solve_seconds: float = 0.0


@dataclass(frozen=True)
class DeviceValues:
    """One device's schedule within an asset-level outcome (units and signs as ``Outcome.values``)."""

    sensor_id: int
    values: list[float]
    soc_sensor_id: int | None = None
    soc_values: list[float] = field(default_factory=list)
    soc_unit: str | None = None


@dataclass(frozen=True)
class Outcome:
    """``values`` in the power sensor's unit and sign convention, as stored (None when the job failed)."""

    scheduler: str
    values: list[float] | None = None
    soc_sensor_id: int | None = None
    soc_values: list[float] = field(default_factory=list)
    soc_unit: str | None = None
    error_class: str | None = None
    error: str | None = None
    infeasible: bool = False  # the solver proved infeasibility: the fallback runs
    time_limit_hit: bool = False
    timing: Timing = Timing()
    devices: tuple[DeviceValues, ...] = ()  # an asset-level job: every device, the first one also in ``values``

    @property
    def failed(self) -> bool:
        return self.values is None


def compute(
    request: ScheduleRequest,
    sensors: Mapping[int, SensorFacts],
    series: Mapping[SeriesNeed, Array],
    *,
    time_limit: float,
) -> Outcome:
    """The storage scheduler (MILP) or the process scheduler, as the request says."""
    if request.scheduler == "ProcessScheduler":
        return _process(request, sensors, series)
    name = request.scheduler
    began = time.perf_counter()
    try:
        program = problem.build(request, sensors, series)
    except SchedulingFailed as exc:
        return Outcome(name, error_class=exc.error_class, error=exc.message)
    built = time.perf_counter() - began
    solution, failed = _solve(name, program, time_limit)
    timing = Timing(built + solution.build_seconds, solution.solve_seconds)
    if failed is not None:
        return replace(failed, timing=timing)
    try:
        converted = _converted(request, sensors, solution, name)
    except SchedulingFailed as exc:
        return Outcome(name, error_class=exc.error_class, error=exc.message, timing=timing)
    return replace(converted, time_limit_hit=solution.status == "time_limit", timing=timing)


def _solve(name: str, program: Program, time_limit: float) -> tuple[Solution, Outcome | None]:
    """The solution, and the failed outcome when there is no schedule to use."""
    solution = solve.solve(program, time_limit=time_limit)
    if solution.status == "infeasible":
        return solution, Outcome(name, error_class=INFEASIBLE, error=_sentence(solution.message), infeasible=True)
    if solution.status == "time_limit" and not solution.power.size:
        message = (
            f"The solver found no schedule within its time limit of {time_limit:g} s. Shorten the planning window, "
            "or raise FLEXSTREAM_SCHEDULER_TIME_LIMIT"
        )
        return solution, Outcome(name, error_class=TIME_LIMIT, error=message)
    if solution.status not in ("optimal", "time_limit"):
        return solution, Outcome(name, error_class="SchedulingFailed", error=_sentence(solution.message))
    return solution, None


def compute_devices(
    requests: Sequence[ScheduleRequest],
    sensors: Mapping[int, SensorFacts],
    series: Mapping[SeriesNeed, Array],
    *,
    sequential: bool,
    time_limit: float,
) -> Outcome:
    """An asset-level job: every device jointly in one program (shared site limits, one objective), or one after
    another, each later device seeing the earlier ones' schedules as inflexible flow. No fallback schedule: an
    infeasible problem fails the job (``infeasible`` stays False)."""
    name = "StorageScheduler"
    groups = [[r] for r in requests] if sequential else [list(requests)]
    scheduled = np.zeros(problem.grid_of(requests[0]).n)
    found: list[DeviceValues] = []
    build_s = solve_s = 0.0
    hit = False
    for group in groups:
        prefix = _device_prefix(group[0].sensor_id, [d.sensor_id for d in found]) if sequential else ""
        began = time.perf_counter()
        try:
            program = problem.build_joint(group, sensors, series, scheduled=scheduled)
        except SchedulingFailed as exc:
            return Outcome(name, error_class=exc.error_class, error=prefix + exc.message)
        solution, failed = _solve(name, program, time_limit)
        build_s += time.perf_counter() - began - solution.solve_seconds
        solve_s += solution.solve_seconds
        if failed is not None:
            timing = Timing(build_s, solve_s)
            return replace(failed, error=prefix + (failed.error or ""), infeasible=False, timing=timing)
        hit = hit or solution.status == "time_limit"
        for index, request in enumerate(group):
            try:
                found.append(_device_values(request, sensors, solution, index))
            except SchedulingFailed as exc:
                return Outcome(name, error_class=exc.error_class, error=exc.message, timing=Timing(build_s, solve_s))
            scheduled = scheduled + solution.power[index]
    first = found[0]
    return Outcome(
        name, first.values, first.soc_sensor_id, first.soc_values, first.soc_unit, time_limit_hit=hit,
        timing=Timing(build_s, solve_s), devices=tuple(found),
    )  # fmt: skip


def _device_prefix(sensor_id: int, earlier: list[int]) -> str:
    """How a sequential job's failure names the device (and those scheduled before it)."""
    if not earlier:
        return f"Device sensor {sensor_id}: "
    return f"Device sensor {sensor_id} (scheduled after sensors {', '.join(map(str, earlier))}): "


def _device_values(
    request: ScheduleRequest, sensors: Mapping[int, SensorFacts], solution: Solution, index: int
) -> DeviceValues:
    values = problem.to_sensor_values(request, sensors[request.sensor_id], solution.power[index])
    soc_id = request.storage.state_of_charge if request.storage is not None else None
    soc_values = problem.to_soc_values(sensors[soc_id], solution.energy[index]) if soc_id is not None else []
    return DeviceValues(
        request.sensor_id, values, soc_id, soc_values, sensors[soc_id].unit if soc_id is not None else None
    )


def compute_fallback(
    request: ScheduleRequest, sensors: Mapping[int, SensorFacts], series: Mapping[SeriesNeed, Array]
) -> Outcome:
    """The fallback schedule of an infeasible storage problem (no optimisation)."""
    try:
        inputs = problem.build_fallback_inputs(request, sensors, series)
        targets = inputs.soc_targets[~np.isnan(inputs.soc_targets)]
        first_target = float(targets[0]) if targets.size else None
        solution = fallback.fallback(
            inputs.program, first_target, is_consumer=inputs.is_consumer, is_producer=inputs.is_producer
        )
        return _converted(request, sensors, solution, FALLBACK)
    except SchedulingFailed as exc:
        return Outcome(FALLBACK, error_class=exc.error_class, error=exc.message)


def _converted(request: ScheduleRequest, sensors: Mapping[int, SensorFacts], solution: Solution, name: str) -> Outcome:
    values = problem.to_sensor_values(request, sensors[request.sensor_id], solution.power[0])
    soc_id = request.storage.state_of_charge if request.storage is not None else None
    soc_values = problem.to_soc_values(sensors[soc_id], solution.energy[0]) if soc_id is not None else []
    soc_unit = sensors[soc_id].unit if soc_id is not None else None
    return Outcome(name, values, soc_id, soc_values, soc_unit)


def _process(
    request: ScheduleRequest, sensors: Mapping[int, SensorFacts], series: Mapping[SeriesNeed, Array]
) -> Outcome:
    name = request.scheduler
    began = time.perf_counter()
    try:
        inputs = problem.build_process_inputs(request, sensors, series)
        power = process.schedule_process(
            inputs.consumption_price, power=inputs.power, slots=inputs.slots,
            process_type=inputs.process_type, blocked=inputs.blocked.astype(bool),
            sense=inputs.optimization_sense,
        )  # fmt: skip
    except SchedulingFailed as exc:
        return Outcome(name, error_class=exc.error_class, error=exc.message)
    except FlexStreamError as exc:
        return Outcome(name, error_class=type(exc).__name__, error=str(exc))
    sign = -1.0 if consumption_stored_negative(sensors[request.sensor_id]) else 1.0
    values = [round(sign * float(v), 6) + 0.0 for v in power]
    return Outcome(name, values, timing=Timing(time.perf_counter() - began))


def _sentence(text: str) -> str:
    """A solver message as the sentence after "Scheduling job failed with <class>: " (capitalised)."""
    text = text.strip() or "the solver gave no reason"
    return text[0].upper() + text[1:]
