"""Topic names bound to their message models, once. ``TOPIC.encode(msg)`` / ``TOPIC.decode(bytes)``."""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class AccountTopic(Generic[T]):
    """A topic per account: ``template`` names it, with ``{account}`` for the account's id. Device topics are
    per account so that the broker's ACLs can give a device its own account's topics and no other."""

    template: str
    adapter: TypeAdapter[T]

    def for_account(self, account_id: int) -> Topic[T]:
        return Topic(self.template.format(account=account_id), self.adapter)

    def pattern(self, prefix: str = "") -> re.Pattern[str]:
        """Matches the full name of this topic of any account; group 1 is the account's id."""
        before, after = self.template.split("{account}")
        return re.compile(f"^{re.escape(prefix + before)}([0-9]+){re.escape(after)}$")

    def account_of(self, full_name: str, prefix: str = "") -> int | None:
        """The account whose topic ``full_name`` is, or None when it is not one of these topics."""
        found = self.pattern(prefix).match(full_name)
        return int(found.group(1)) if found else None


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

# Devices' topics, one pair per account that has a device credential (created by `flexstream
# add-device-credential`): commands from the account's devices, and (for them to read) the account's schedules.
DEVICE_DATA: AccountTopic[m.PostSensorData | m.PostBeliefs | m.DeleteSensorData] = AccountTopic(
    "flexstream.devices.{account}.sensor-data.v1", TypeAdapter(m.SensorDataCommand)
)
DEVICE_SCHEDULES: AccountTopic[m.ScheduleComputed] = AccountTopic(
    "flexstream.devices.{account}.schedules.v1", TypeAdapter(m.ScheduleComputed)
)

ALL_TOPICS: tuple[Topic[Any], ...] = (
    SENSOR_DATA, SENSOR_DATA_DLQ, INGESTED, SCHEDULE_TRIGGERS, SCHEDULES, SENSOR_EVENTS
)  # fmt: skip
