"""Topic names bound to their message models, once. ``TOPIC.encode(msg)`` / ``TOPIC.decode(bytes)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from shared import messages as m

T = TypeVar("T")


@dataclass(frozen=True)
class Topic(Generic[T]):
    name: str
    adapter: TypeAdapter[T]
    compacted: bool = False

    def encode(self, message: T) -> bytes:
        return self.adapter.dump_json(message)

    def decode(self, data: bytes | None) -> T:
        return self.adapter.validate_json(data or b"")

    def full_name(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}"

    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema()


def key_for(sensor_id: int) -> bytes:
    """Every topic is keyed by sensor id, so one sensor's messages stay in order on one partition."""
    return str(sensor_id).encode()


SENSOR_DATA: Topic[m.PostSensorData | m.PostBeliefs | m.DeleteSensorData] = Topic(
    "flexstream.sensor-data.v1", TypeAdapter(m.SensorDataCommand)
)
SENSOR_DATA_DLQ: Topic[m.DeadLetter] = Topic("flexstream.sensor-data.dlq.v1", TypeAdapter(m.DeadLetter))
INGESTED: Topic[m.BeliefsIngested] = Topic("flexstream.ingested.v1", TypeAdapter(m.BeliefsIngested))
SCHEDULE_TRIGGERS: Topic[m.TriggerSchedule] = Topic("flexstream.schedule-triggers.v1", TypeAdapter(m.TriggerSchedule))
SCHEDULES: Topic[m.ScheduleComputed] = Topic("flexstream.schedules.v1", TypeAdapter(m.ScheduleComputed))
SENSOR_EVENTS: Topic[m.SensorChanged] = Topic(
    "flexstream.sensor-events.v1", TypeAdapter(m.SensorChanged), compacted=True
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    SENSOR_DATA, SENSOR_DATA_DLQ, INGESTED, SCHEDULE_TRIGGERS, SCHEDULES, SENSOR_EVENTS
)  # fmt: skip
