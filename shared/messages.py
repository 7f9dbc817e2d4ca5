"""Every message FlexStream puts on Kafka, defined once and used by producers and consumers alike.

Commands read as orders (``PostSensorData``), events as facts (``BeliefsIngested``). Adding an optional
field is a compatible change; renaming, removing or retyping a field means a new model on a ``.v2`` topic.
The JSON Schema of each model is published under ``docs/schemas/`` (see ``shared/topic_schemas.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

# Text that PostgreSQL can store: no NUL character (``text`` and ``jsonb`` refuse it).
STORABLE_TEXT = r"^[^\x00]*$"
MAX_SOURCE_NAME = 120  # data_sources.name
MAX_UNIT = 80  # sensors.unit; longer unit texts are no units anyone posts, and cost the unit parser time


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # older readers tolerate added fields


# --- flexstream.sensor-data.v1 --------------------------------------------------------------------


class _PostCommand(Message):
    """What every data-posting command carries besides its values: who, which sensor, belief timing."""

    command_id: UUID = Field(default_factory=uuid4)
    sensor_id: int
    prior: AwareDatetime | None = None
    horizon: timedelta | None = None
    source_id: int | None = Field(
        default=None, description="Data source id; devices may leave it out and name themselves instead."
    )
    source_name: str = Field(
        default="device",
        max_length=MAX_SOURCE_NAME,
        pattern=STORABLE_TEXT,
        description="Name of the source to use when source_id is absent.",
    )
    replace: bool = Field(
        default=False,
        description="Overwrite stored beliefs with the same key and another value. False: such a command "
        "is rejected as a whole (FlexMeasures' INVALID_REPLACEMENT) and nothing is stored.",
    )
    recorded_at: AwareDatetime = Field(
        default_factory=utcnow,
        description="Belief time when neither prior nor horizon is given. Ingest uses the Kafka record's "
        "timestamp when a producer leaves it out.",
    )


class PostSensorData(_PostCommand):
    """Store a regular series of values for one sensor (the body of FlexMeasures' POST sensor data).

    ``values`` span ``[start, start + duration)`` evenly. Ingest upsamples them to the sensor's
    resolution, converts ``unit`` to the sensor's unit, skips nulls and unchanged beliefs, and stores
    the rest. Belief timing: ``prior`` (belief time) wins over ``horizon``; with neither, the belief
    time is ``recorded_at``.
    """

    type: Literal["PostSensorData"] = "PostSensorData"
    start: AwareDatetime
    duration: timedelta
    values: list[float | None] = Field(min_length=1)
    unit: str = Field(max_length=MAX_UNIT, pattern=STORABLE_TEXT)


class PostBeliefs(_PostCommand):
    """Store values at explicitly given event starts (CSV uploads, irregular device readings).

    ``values[i]`` is the value of the event starting at ``event_starts[i]``, in ``unit`` (default: the
    sensor's unit). No resampling happens: each event lasts the sensor's resolution. Event starts must be
    unique within the command. Belief timing as in ``PostSensorData``.
    """

    type: Literal["PostBeliefs"] = "PostBeliefs"
    event_starts: list[AwareDatetime] = Field(min_length=1)
    values: list[float | None] = Field(min_length=1)
    unit: str | None = Field(default=None, max_length=MAX_UNIT, pattern=STORABLE_TEXT)

    @model_validator(mode="after")
    def _same_length(self) -> PostBeliefs:
        if len(self.event_starts) != len(self.values):
            raise ValueError(f"{len(self.event_starts)} event starts but {len(self.values)} values")
        return self


class DeleteSensorData(Message):
    """Delete every belief of one sensor stored before this command (ordered after earlier writes)."""

    type: Literal["DeleteSensorData"] = "DeleteSensorData"
    command_id: UUID = Field(default_factory=uuid4)
    sensor_id: int
    recorded_at: AwareDatetime = Field(default_factory=utcnow)


DataCommand = PostSensorData | PostBeliefs | DeleteSensorData  # what the sensor-data topic carries
SensorDataCommand = Annotated[DataCommand, Field(discriminator="type")]


class DeadLetter(Message):
    """A sensor-data message that can never succeed, kept with the reason (flexstream.sensor-data.dlq.v1)."""

    reason: str = Field(description="Machine-readable code, e.g. unknown_sensor, malformed_message.")
    detail: str
    original: str = Field(description="The original message value, decoded as UTF-8 (replacement chars if not).")
    topic: str
    partition: int
    offset: int
    command_id: UUID | None = None
    sensor_id: int | None = None
    failed_at: AwareDatetime = Field(default_factory=utcnow)


# --- flexstream.ingested.v1 -----------------------------------------------------------------------

IngestOutcome = Literal["processed", "already_received", "replacement_rejected", "deleted"]


class ValueSummary(Message):
    count: int
    min: float | None = None
    max: float | None = None
    sum: float | None = None


class BeliefsIngested(Message):
    """Ingest finished one command: what was written, for stats and for waiting HTTP requests."""

    type: Literal["BeliefsIngested"] = "BeliefsIngested"
    command_id: UUID
    sensor_id: int
    source_id: int | None = None
    outcome: IngestOutcome
    rows_written: int = 0
    rows_replaced: int = 0
    rows_skipped: int = 0
    summary: ValueSummary = ValueSummary(count=0)
    event_start: AwareDatetime | None = Field(default=None, description="First event start written.")
    event_end: AwareDatetime | None = Field(default=None, description="Last event end written.")
    recorded_at: AwareDatetime = Field(default_factory=utcnow)


# --- flexstream.schedule-triggers.v1 / flexstream.schedules.v1 ------------------------------------


class TriggerSchedule(Message):
    """Compute the schedule of job ``job_id`` (its row was created, queued, by the gateway).

    ``body`` is the trigger's JSON body as sent; ``flex_context`` the flex-context the gateway validated (the
    asset tree's stored one merged with the body's), so the worker computes what was accepted even if the stored
    flex-context changes meanwhile. ``data_offsets`` holds, per partition of ``flexstream.sensor-data.v1``, the
    end offset when the trigger was accepted: the worker waits until ingest has committed that far, so every
    value whose POST was answered before the trigger is in the database when the inputs are read.
    """

    type: Literal["TriggerSchedule"] = "TriggerSchedule"
    job_id: UUID
    sensor_id: int
    start: AwareDatetime
    duration: timedelta
    prior: AwareDatetime | None = None
    flex_model: dict[str, Any] = Field(default_factory=dict)
    flex_context: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] | None = Field(default=None, description="The trigger's JSON body as sent.")
    data_offsets: dict[int, int] = Field(
        default_factory=dict, description="Partition → end offset of the sensor-data topic at trigger time."
    )
    asset_id: int | None = Field(
        default=None,
        description="Set for an asset-level trigger: ``body`` is then the asset trigger's body (a list of device "
        "flex-models), ``sensor_id`` its first device, and the job schedules every device in ``devices``.",
    )
    devices: list[int] = Field(default_factory=list, description="An asset-level job's device sensors, in order.")
    sequential: bool = Field(
        default=False, description="Asset-level: one device after another (else jointly, in one problem)."
    )
    triggered_at: AwareDatetime = Field(default_factory=utcnow)


class DeviceSchedule(Message):
    """One device's schedule within an asset-level job (fields as in ``ScheduleComputed``)."""

    sensor_id: int
    values: list[float]
    unit: str
    consumption_positive: bool = False
    soc_sensor_id: int | None = None
    soc_values: list[float] = Field(default_factory=list)
    soc_unit: str | None = None


class ScheduleComputed(Message):
    """The outcome of one scheduling job: everything a device needs to act without calling HTTP.

    ``status="finished"``: ``values[i]`` is the power of the event starting at ``start + i·resolution``, in
    ``unit`` (the power sensor's unit) and with that sensor's sign convention — exactly what ``GET
    /api/v3_0/sensors/<id>/schedules/<job_id>`` returns once ingest has stored it. ``status="failed"``: ``error``
    says why (``error_class`` is FlexMeasures' exception name); when the solver found the problem infeasible,
    ``fallback_job_id`` names the job that carries the fallback schedule (published as its own message).
    """

    type: Literal["ScheduleComputed"] = "ScheduleComputed"
    job_id: UUID
    sensor_id: int
    status: Literal["finished", "failed"]
    start: AwareDatetime | None = None
    resolution: timedelta | None = None
    values: list[float] = Field(default_factory=list)
    unit: str | None = None
    consumption_positive: bool = Field(
        default=False,
        description="True when positive values mean consumption; false (the default convention of power sensors) "
        "when consumption is negative, as the values are stored.",
    )
    error: str | None = None
    error_class: str | None = Field(
        default=None, description="E.g. UnknownPricesException, InfeasibleProblemException."
    )
    belief_time: AwareDatetime | None = Field(default=None, description="Belief time of the stored schedule.")
    scheduler: str | None = Field(
        default=None, description="StorageScheduler, StorageFallbackScheduler or ProcessScheduler."
    )
    time_limit_hit: bool = Field(
        default=False, description="The solver stopped at its time limit; values are the best schedule found."
    )
    fallback_job_id: UUID | None = None
    soc_sensor_id: int | None = Field(default=None, description="The state-of-charge sensor, when one was given.")
    soc_start: AwareDatetime | None = Field(default=None, description="Instant of soc_values[0] (the schedule start).")
    soc_values: list[float] = Field(
        default_factory=list, description="State of charge at start + i·resolution, i = 0…len(values), in soc_unit."
    )
    soc_unit: str | None = None
    devices: list[DeviceSchedule] = Field(
        default_factory=list,
        description="An asset-level job's schedules, one per device (the first one repeats the top-level fields). "
        "Ingest stores them all in one transaction and only then marks the job finished.",
    )
    computed_at: AwareDatetime = Field(default_factory=utcnow)


# --- flexstream.sensor-events.v1 (compacted) ------------------------------------------------------


class SensorSnapshot(Message):
    id: int
    name: str
    unit: str
    timezone: str
    event_resolution: timedelta
    generic_asset_id: int
    attributes: dict[str, Any] = Field(default_factory=dict)


class SensorChanged(Message):
    """A sensor was created, updated or deleted (published after the DB commit, via the outbox)."""

    type: Literal["SensorChanged"] = "SensorChanged"
    change: Literal["created", "updated", "deleted"]
    sensor_id: int
    sensor: SensorSnapshot | None = Field(default=None, description="The sensor after the change; null when deleted.")
    changed_at: AwareDatetime = Field(default_factory=utcnow)
