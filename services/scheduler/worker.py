"""One scheduling job, from its trigger to a durable outcome.

1. Lock the job row: finished → nothing to do; failed → publish its failure again (a crash may have come between
   marking and publishing), and finish a fallback job that was left unfinished; queued or started (a re-run after a
   crash or a rebalance) → mark started.
2. Meanwhile (they only read), wait until ingest has stored the sensor data posted before the trigger
   (``ingest_wait``), then load the sensor facts, re-validate the trigger against them, and load the input series as
   known at belief time ``b`` (the trigger's ``prior``, else now); these are set aside when step 1 finds nothing to
   run or a failed job.
3. Compute in a worker thread.
4. Success: publish ``ScheduleComputed`` (ingest stores the beliefs and marks the job finished in the same
   transaction). Failure: mark the job failed, then publish; an infeasible storage problem also gets a fallback
   job, linked from the failed one, computed and published at once.

The caller commits the trigger's offset only after ``run_job`` returned, i.e. once the outcome is durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import numpy as np
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.scheduler import compute, resample, sql
from services.scheduler.compute import FALLBACK, Outcome
from services.scheduler.device_schedules import DeviceSchedules, restricted_to
from services.scheduler.ingest_wait import IngestBehind, IngestProgress
from services.scheduler.problem import needs
from services.scheduler.series import SeriesNeed
from shared import db
from shared.errors import FlexRejected, TriggerRejected
from shared.flex import ScheduleRequest, SensorFacts, referenced_sensors, validate_trigger
from shared.flex.asset_trigger import asset_referenced_sensors, validate_asset_trigger
from shared.messages import DeviceSchedule, ScheduleComputed, TriggerSchedule
from shared.sensor_facts import consumption_stored_negative, load_facts
from shared.settings import SchedulerSettings
from shared.topics import SCHEDULES, key_for

logger = logging.getLogger(__name__)

JOBS = Counter("flexstream_scheduler_jobs_total", "Scheduling jobs run", ["scheduler", "outcome"])
BUILD_SECONDS = Histogram("flexstream_scheduler_build_seconds", "Time to build the optimisation program")
SOLVE_SECONDS = Histogram("flexstream_scheduler_solve_seconds", "Time to solve the optimisation program")
JOB_SECONDS = Histogram("flexstream_scheduler_job_seconds", "Time from picking up a trigger to a durable outcome")
INGEST_WAIT_SECONDS = Histogram("flexstream_scheduler_ingest_wait_seconds", "Time waiting for ingest to catch up")

ROW_WAIT_SECONDS = 10.0  # the gateway commits the job row right after producing the trigger


@dataclass(frozen=True)
class Context:
    settings: SchedulerSettings
    pool: AsyncConnectionPool
    producer: AIOKafkaProducer
    ingest: IngestProgress
    devices: DeviceSchedules | None = None  # schedules back to devices: their account's topic as well


@dataclass(frozen=True)
class Inputs:
    request: ScheduleRequest
    sensors: dict[int, SensorFacts]
    series: dict[SeriesNeed, np.ndarray]
    belief_time: datetime
    devices: tuple[ScheduleRequest, ...] = ()  # an asset-level job: every device's request (``request`` is the first)


async def run_job(ctx: Context, trigger: TriggerSchedule) -> None:
    began = time.perf_counter()
    # The claim only marks the job started: its inputs are read meanwhile, on a connection of their own, and set
    # aside when the claim finds nothing to run
    preparing = asyncio.create_task(_prepare(ctx, trigger))
    try:
        state = await _claim(ctx, trigger)
    except BaseException:
        await _set_aside(preparing)
        raise
    claimed = time.perf_counter()
    if state is None or state.status == "failed":
        await _set_aside(preparing)
    if state is None:
        return
    try:
        if state.status == "failed":
            await _finish_failed(ctx, trigger, state)
            return
        try:
            prepared = await preparing
        except IngestBehind as exc:
            await _fail(ctx, trigger, state.scheduler or "", "IngestBehind", str(exc), None)
            return
        except (FlexRejected, TriggerRejected) as exc:
            await _fail(ctx, trigger, state.scheduler or "", "ValueError", _rejection_text(exc), None)
            return
        except BUG_CLASSES as exc:
            await _fail(ctx, trigger, state.scheduler or "", type(exc).__name__, _bug_text(trigger, exc), None)
            return
        inputs = prepared.inputs
        limit = ctx.settings.scheduler_time_limit.total_seconds()
        if inputs.devices:
            outcome = await _guarded(
                trigger, inputs.request.scheduler, compute.compute_devices, inputs.devices, inputs.sensors,
                inputs.series, sequential=trigger.sequential, time_limit=limit,
            )  # fmt: skip
        else:
            outcome = await _guarded(
                trigger, inputs.request.scheduler, compute.compute, inputs.request, inputs.sensors, inputs.series,
                time_limit=limit,
            )  # fmt: skip
        BUILD_SECONDS.observe(outcome.timing.build_seconds)
        SOLVE_SECONDS.observe(outcome.timing.solve_seconds)
        if not outcome.failed:
            await _publish(ctx, _computed(trigger.job_id, trigger.sensor_id, inputs, outcome))
        elif outcome.infeasible:
            await _fail_with_fallback(ctx, trigger, inputs, outcome)
        else:
            await _fail(ctx, trigger, outcome.scheduler, outcome.error_class or "Exception", outcome.error or "",
                        inputs.belief_time)  # fmt: skip
        JOBS.labels(outcome.scheduler, "failed" if outcome.failed else "finished").inc()
        logger.info(
            "scheduling job done",
            extra={"job_id": str(trigger.job_id), "sensor_id": trigger.sensor_id, "scheduler": outcome.scheduler,
                   "outcome": "failed" if outcome.failed else "finished", "error_class": outcome.error_class,
                   "claim_ms": round((claimed - began) * 1000, 1), "ingest_wait_ms": round(prepared.waited * 1000, 1),
                   "inputs_ms": round(prepared.loading * 1000, 1),
                   "build_ms": round(outcome.timing.build_seconds * 1000, 1),
                   "solve_ms": round(outcome.timing.solve_seconds * 1000, 1),
                   "total_ms": round((time.perf_counter() - began) * 1000, 1)},
        )  # fmt: skip
    finally:
        JOB_SECONDS.observe(time.perf_counter() - began)


@dataclass(frozen=True)
class Prepared:
    inputs: Inputs
    waited: float  # seconds waiting for ingest to store the data posted before the trigger
    loading: float  # seconds loading the inputs after that


async def _prepare(ctx: Context, trigger: TriggerSchedule) -> Prepared:
    """Wait until ingest has stored the data posted before the trigger, then load the job's inputs."""
    waited = await ctx.ingest.wait_for(trigger.data_offsets, ctx.settings.scheduler_ingest_wait.total_seconds())
    INGEST_WAIT_SECONDS.observe(waited)
    started = time.perf_counter()
    inputs = await _inputs(ctx, trigger)
    return Prepared(inputs, waited, time.perf_counter() - started)


async def _set_aside(preparing: asyncio.Task[Prepared]) -> None:
    """Cancel inputs that will not be used, and wait until their connection is back in the pool."""
    preparing.cancel()
    await asyncio.wait([preparing])
    if not preparing.cancelled():
        preparing.exception()  # retrieved: a failure of inputs nobody uses is no error


async def _claim(ctx: Context, trigger: TriggerSchedule) -> sql.JobState | None:
    """Lock the row and mark it started; None when there is nothing to do. The gateway commits the row just after
    the trigger was acknowledged, so a trigger can arrive first: the job's advisory lock, which the gateway holds
    from the row's insert to its commit, makes the read wait for that commit (``sql.lock_job``). Should the trigger
    come before even the insert, poll briefly (1 ms, doubling). Two round trips: the locks (with the transaction's
    start), then the mark with the commit."""
    deadline = time.monotonic() + ROW_WAIT_SECONDS
    delay = 0.001
    while True:
        async with db.own_transaction(ctx.pool) as conn, conn.pipeline():
            await conn.execute("BEGIN")
            state = await sql.lock_job(conn, trigger.job_id)
            claimed = await _start(ctx, conn, trigger, state) if state is not None else None
            await conn.execute("COMMIT")
        if state is not None:
            return claimed
        if time.monotonic() > deadline:
            logger.warning("trigger for an unknown job, skipped", extra={"job_id": str(trigger.job_id)})
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


async def _start(
    ctx: Context, conn: AsyncConnection[Any], trigger: TriggerSchedule, state: sql.JobState
) -> sql.JobState | None:
    if state.status == "finished":
        return None
    if state.status == "failed":
        return state
    if state.status == "queued" and datetime.now(UTC) - state.created_at > ctx.settings.job_ttl:
        ttl = f"{ctx.settings.job_ttl.total_seconds() / 3600:g} h (FLEXSTREAM_JOB_TTL)"
        message = f"The job waited longer than {ttl} in the queue and was not run; trigger it again"
        await sql.mark_failed(conn, trigger.job_id, "JobExpired", message)
        return replace(state, status="failed", error_class="JobExpired", error_message=message)
    if state.status == "started":
        logger.info("re-running a job left started", extra={"job_id": str(trigger.job_id)})
    await sql.mark_started(conn, trigger.job_id, state.scheduler)  # needs no flush of its own (see the query)
    return state


async def _inputs(ctx: Context, trigger: TriggerSchedule) -> Inputs:
    if trigger.asset_id is not None:
        return await _asset_inputs(ctx, trigger, trigger.asset_id)
    return await _sensor_inputs(ctx, trigger)


async def _asset_inputs(ctx: Context, trigger: TriggerSchedule, asset_id: int) -> Inputs:
    """An asset-level job: every device re-validated under the flex-context accepted at trigger time, and the
    series of all of them loaded once."""
    body = trigger.body or {}
    async with db.single_statement(ctx.pool) as conn:  # reads only: each in its own snapshot, no BEGIN or COMMIT
        sensors = await load_facts(conn, asset_referenced_sensors(body, trigger.flex_context))
        request = validate_asset_trigger(
            body, asset_id, trigger.flex_context, sensors, planning_horizon=ctx.settings.planning_horizon,
            max_planning_horizon=ctx.settings.max_planning_horizon_steps,
        )  # fmt: skip
        belief_time = request.prior or datetime.now(UTC)
        loaded: dict[SeriesNeed, np.ndarray] = {}
        for device in request.devices:
            missing = [need for need in needs(device) if need not in loaded]
            loaded |= await load_series(conn, device, sensors, belief_time, missing)
    return Inputs(request.devices[0], sensors, loaded, belief_time, request.devices)


async def _sensor_inputs(ctx: Context, trigger: TriggerSchedule) -> Inputs:
    """Re-validate the trigger (with the flex-context accepted at trigger time) and load its input series."""
    body = trigger.body if trigger.body is not None else _body_of(trigger)
    async with db.single_statement(ctx.pool) as conn:  # reads only: facts, then every series in one round trip
        # The trigger carries the merged flex-context, so every sensor the job names is known before loading.
        facts = await load_facts(conn, {trigger.sensor_id, *referenced_sensors(body, trigger.flex_context)})
        own = facts.pop(trigger.sensor_id, None)
        if own is None:
            raise FlexRejected(f"Sensor {trigger.sensor_id} no longer exists.")
        own = replace(own, flex_context=trigger.flex_context)
        referenced = facts
        request = validate_trigger(
            body, own, referenced, planning_horizon=ctx.settings.planning_horizon,
            max_planning_horizon=ctx.settings.max_planning_horizon_steps,
        )  # fmt: skip
        sensors = {**referenced, own.id: own}
        belief_time = request.prior or datetime.now(UTC)
        loaded = await load_series(conn, request, sensors, belief_time)
    return Inputs(request, sensors, loaded, belief_time)


async def load_series(
    conn: AsyncConnection[Any],
    request: ScheduleRequest,
    sensors: Mapping[int, SensorFacts],
    belief_time: datetime,
    only: list[SeriesNeed] | None = None,
) -> dict[SeriesNeed, np.ndarray]:
    """Every series the problem needs (or those in ``only``), in each sensor's own unit, ``nan`` where nothing is
    known."""
    n = -(-(request.end - request.start) // request.resolution)
    wanted = needs(request) if only is None else only
    resolutions = [sensors[need.sensor_id].event_resolution for need in wanted]
    windows = [
        sql.SeriesWindow(need.sensor_id, *sql.window_for(request.start, request.end, resolution, request.resolution))
        for need, resolution in zip(wanted, resolutions, strict=True)
    ]
    loaded = await sql.series(conn, windows, belief_time)
    return {
        need: resample.on_grid(events, resolution, request.start, request.resolution, n, need.kind)
        for need, resolution, events in zip(wanted, resolutions, loaded, strict=True)
    }


def _body_of(trigger: TriggerSchedule) -> dict[str, Any]:
    """A trigger produced without ``body`` (an older gateway): rebuilt from its fields."""
    body: dict[str, Any] = {"start": trigger.start.isoformat(), "duration": _iso(trigger.duration),
                            "flex-model": trigger.flex_model}  # fmt: skip
    if trigger.prior is not None:
        body["prior"] = trigger.prior.isoformat()
    return body


def _iso(duration: timedelta) -> str:
    return f"PT{int(duration.total_seconds() // 60)}M"


def _rejection_text(exc: FlexRejected | TriggerRejected) -> str:
    """A trigger that was valid when accepted but no longer is (a sensor changed or was deleted meanwhile)."""
    payload = exc.payload if isinstance(exc, FlexRejected) else exc.location_errors
    return payload if isinstance(payload, str) else f"Invalid flex-model or flex-context: {payload}"


def _computed(job_id: UUID, sensor_id: int, inputs: Inputs, outcome: Outcome) -> ScheduleComputed:
    request, facts = inputs.request, inputs.sensors[sensor_id]
    return ScheduleComputed(
        job_id=job_id, sensor_id=sensor_id, status="finished", start=request.start, resolution=request.resolution,
        values=outcome.values or [], unit=facts.unit, belief_time=inputs.belief_time, scheduler=outcome.scheduler,
        time_limit_hit=outcome.time_limit_hit, soc_sensor_id=outcome.soc_sensor_id,
        soc_start=request.start if outcome.soc_sensor_id is not None else None, soc_values=outcome.soc_values,
        soc_unit=outcome.soc_unit, consumption_positive=_consumption_positive(facts),
        devices=[
            DeviceSchedule(
                sensor_id=d.sensor_id, values=d.values, unit=inputs.sensors[d.sensor_id].unit,
                consumption_positive=_consumption_positive(inputs.sensors[d.sensor_id]), soc_sensor_id=d.soc_sensor_id,
                soc_values=d.soc_values, soc_unit=d.soc_unit,
            )
            for d in outcome.devices
        ],
    )  # fmt: skip


def _consumption_positive(facts: SensorFacts) -> bool:
    """Whether positive values mean consumption, as the schedule is stored for this sensor."""
    return not consumption_stored_negative(facts)


async def _fail(
    ctx: Context, trigger: TriggerSchedule, scheduler: str, error_class: str, error: str, belief_time: datetime | None
) -> None:
    async with ctx.pool.connection() as conn, conn.transaction():
        await sql.mark_failed(conn, trigger.job_id, error_class, error, belief_time=belief_time)
    logger.info("scheduling job failed", extra={"job_id": str(trigger.job_id), "error_class": error_class})
    await _publish(ctx, _failed(trigger, scheduler, error_class, error, None))


def _failed(
    trigger: TriggerSchedule, scheduler: str, error_class: str, error: str, fallback_job_id: UUID | None
) -> ScheduleComputed:
    return ScheduleComputed(
        job_id=trigger.job_id, sensor_id=trigger.sensor_id, status="failed", start=trigger.start, error=error,
        error_class=error_class, scheduler=scheduler or None, fallback_job_id=fallback_job_id,
    )  # fmt: skip


async def _fail_with_fallback(ctx: Context, trigger: TriggerSchedule, inputs: Inputs, outcome: Outcome) -> None:
    """Infeasible: the job fails, and a fallback job (linked from it) carries the fallback schedule."""
    fallback_id = uuid4()
    async with ctx.pool.connection() as conn, conn.transaction():
        await sql.create_fallback_job(conn, trigger.job_id, fallback_id, FALLBACK)
        await sql.mark_failed(conn, trigger.job_id, outcome.error_class or compute.INFEASIBLE, outcome.error or "",
                              belief_time=inputs.belief_time, fallback_job_id=fallback_id)  # fmt: skip
    await _publish(
        ctx, _failed(trigger, outcome.scheduler, outcome.error_class or "", outcome.error or "", fallback_id)
    )
    await _run_fallback(ctx, trigger, fallback_id, inputs)


async def _run_fallback(ctx: Context, trigger: TriggerSchedule, fallback_id: UUID, inputs: Inputs) -> None:
    outcome = await _guarded(trigger, FALLBACK, compute.compute_fallback, inputs.request, inputs.sensors, inputs.series)
    JOBS.labels(FALLBACK, "failed" if outcome.failed else "finished").inc()
    if outcome.failed:
        async with ctx.pool.connection() as conn, conn.transaction():
            await sql.mark_failed(conn, fallback_id, outcome.error_class or "Exception", outcome.error or "",
                                  belief_time=inputs.belief_time)  # fmt: skip
        message = _failed(trigger, FALLBACK, outcome.error_class or "", outcome.error or "", None)
        await _publish(ctx, message.model_copy(update={"job_id": fallback_id}))
        return
    await _publish(ctx, _computed(fallback_id, trigger.sensor_id, inputs, outcome))


async def _finish_failed(ctx: Context, trigger: TriggerSchedule, state: sql.JobState) -> None:
    """A redelivered trigger of a failed job: publish the failure again; finish its fallback if it never was."""
    await _publish(ctx, _failed(trigger, state.scheduler or "", state.error_class or "Exception",
                                state.error_message or "", state.fallback_job_id))  # fmt: skip
    if state.fallback_job_id is None:
        return
    async with ctx.pool.connection() as conn:
        status = await sql.job_status(conn, state.fallback_job_id)
    if status in ("queued", "started"):
        try:
            inputs = await _inputs(ctx, trigger)
        except REJECTED_OR_BUG as exc:
            text = _rejection_text(exc) if isinstance(exc, FlexRejected | TriggerRejected) else _bug_text(trigger, exc)
            async with ctx.pool.connection() as conn, conn.transaction():
                await sql.mark_failed(conn, state.fallback_job_id, type(exc).__name__, text)
            return
        await _run_fallback(ctx, trigger, state.fallback_job_id, inputs)


# What a bug in validating, building or solving raises. Such a job fails with the exception's name instead of
# crashing the service, which would receive the same trigger again after its restart and never get past it.
BUG_CLASSES: tuple[type[Exception], ...] = (
    ArithmeticError, AssertionError, AttributeError, LookupError, RuntimeError, TypeError, ValueError
)  # fmt: skip
REJECTED_OR_BUG: tuple[type[Exception], ...] = (FlexRejected, TriggerRejected, *BUG_CLASSES)


async def _guarded(
    trigger: TriggerSchedule, scheduler: str, work: Callable[..., Outcome], *args: Any, **kwargs: Any
) -> Outcome:
    """``work`` in a worker thread; a bug becomes a failed outcome (logged with its traceback)."""
    try:
        return await asyncio.to_thread(work, *args, **kwargs)
    except BUG_CLASSES as exc:
        return Outcome(scheduler, error_class=type(exc).__name__, error=_bug_text(trigger, exc))


def _bug_text(trigger: TriggerSchedule, exc: Exception) -> str:
    logger.exception("scheduling job hit an internal error", extra={"job_id": str(trigger.job_id)}, exc_info=exc)
    return f"FlexStream hit an internal error while computing this schedule ({exc}); it has been logged"


async def _publish(ctx: Context, message: ScheduleComputed) -> None:
    """To ``flexstream.schedules.v1`` and, where a device's account has device topics, to its device schedules
    topic (``device_schedules.py``): an asset-level job's message goes there with only that account's devices. All
    are durable before this returns."""
    sent = [await ctx.producer.send(SCHEDULES.full_name(ctx.settings.topic_prefix), SCHEDULES.encode(message),
                                    key=key_for(message.sensor_id))]  # fmt: skip
    if ctx.devices is not None:
        by_topic: dict[str, list[int]] = {}
        for sensor_id in [d.sensor_id for d in message.devices] or [message.sensor_id]:
            topic = await ctx.devices.topic_for(sensor_id)
            if topic is not None:
                by_topic.setdefault(topic, []).append(sensor_id)
        for topic, sensor_ids in by_topic.items():
            part = restricted_to(message, sensor_ids)
            sent.append(await ctx.producer.send(topic, SCHEDULES.encode(part), key=key_for(part.sensor_id)))
    await asyncio.gather(*sent)
