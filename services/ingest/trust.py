"""Ingest trusts by topic (docs/architecture.md, "Trust boundary"). The gateway's command topic is written by the
gateway alone, which has already applied every rule: its commands are taken as they are. A device topic is written
by the devices of one account, so its commands get the device rules, each refusal a dead letter with its reason:

* the sensor must belong to the topic's account (``sensor_not_in_account``);
* the data source is the account's device source, never one named in the message (``source_not_allowed``);
* ``replace`` only where the server allows overwrites, ``FLEXSTREAM_ALLOW_DATA_OVERWRITE`` (``replace_not_allowed``);
* no deletions (``deletion_not_allowed``);
* no belief time before the broker received the record (give or take ``CLOCK_TOLERANCE``, 5 minutes), except a
  measurement's (at or after its event's end): ``prior`` before it, or a forecast horizon reaching before it, is
  ``backdated_belief``;
* ``command_id`` and ``recorded_at`` come from the record (its position, and the broker's LogAppendTime), never
  from the message (``field_not_allowed``).

Pure functions; ``handlers.ingest_batch`` calls them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from aiokafka.structs import ConsumerRecord

from shared.beliefs import BeliefRows
from shared.errors import (
    BackdatedBelief,
    DeletionNotAllowed,
    FieldNotAllowed,
    NotDeviceSensor,
    ReplaceNotAllowed,
    SourceNotAllowed,
)
from shared.messages import DataCommand, DeleteSensorData, utcnow
from shared.topics import DEVICE_DATA

LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker set its time
# A device stamps ``prior`` (or derives a forecast's belief time) from its own clock before sending: that far
# before the broker's time of the record is taken as clock skew and transit, not as backdating.
CLOCK_TOLERANCE = timedelta(minutes=5)

RECORD_FIELDS = ("command_id", "recorded_at")  # what a device's record gives, not its message
SOURCE_FIELDS = ("source_id", "source_name")


@dataclass(frozen=True)
class TopicTrust:
    """How ingest tells device topics from the gateway's, and what the device rules allow."""

    topic_prefix: str = ""
    allow_data_overwrite: bool = False

    def device_account(self, topic: str) -> int | None:
        """The account whose device topic ``topic`` is; None for the gateway's command topic."""
        return DEVICE_DATA.account_of(topic, self.topic_prefix)


def device_source_name(account_id: int) -> str:
    """The name of the data source (type ``device``) every device command of the account is recorded under."""
    return f"devices of account {account_id}"


def check_command(command: DataCommand, trust: TopicTrust) -> None:
    """The device rules a command breaks by itself (before looking at its sensor). ``command`` as decoded, before
    the record's defaults are filled in, so that ``model_fields_set`` is what the device sent."""
    if isinstance(command, DeleteSensorData):
        raise DeletionNotAllowed("A device topic cannot delete sensor data; use the API (DELETE /sensors/<id>/data).")
    sent = command.model_fields_set
    if fields := [name for name in RECORD_FIELDS if name in sent]:
        raise FieldNotAllowed(
            f"A device topic's command cannot set {' or '.join(fields)}: the record gives them (its position and "
            "the broker's time)."
        )
    if fields := [name for name in SOURCE_FIELDS if name in sent]:
        raise SourceNotAllowed(
            f"A device topic's command cannot name its data source ({', '.join(fields)}): it is recorded under its "
            "account's device source."
        )
    if command.replace and not trust.allow_data_overwrite:
        raise ReplaceNotAllowed("This server does not allow replacing stored data (FLEXSTREAM_ALLOW_DATA_OVERWRITE).")


def check_sensor(account_id: int, sensor_id: int, owner: int | None) -> None:
    """The sensor's asset must belong to the topic's account (``owner``: the account of the sensor's asset)."""
    if owner != account_id:
        raise NotDeviceSensor(f"Sensor {sensor_id} does not belong to account {account_id}.")


def received_at(record: ConsumerRecord[bytes, bytes]) -> datetime:
    """When the broker received the record: its timestamp where the broker set it (device topics are created with
    LogAppendTime), else now (a time the producer chose is not trusted; now is later than the true one)."""
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp is not None and record.timestamp >= 0:
        return datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return utcnow()


def check_belief_times(
    rows: BeliefRows, resolution: timedelta, received: datetime, *, prior: datetime | None = None
) -> None:
    """No belief time before ``received`` (the broker's time of the record, less ``CLOCK_TOLERANCE``), except a
    measurement's: a belief formed at or after its event's end. ``prior`` itself must not be before it either."""
    received = received - CLOCK_TOLERANCE
    if prior is not None and prior < received:
        raise BackdatedBelief(
            f"prior {prior.isoformat()} is before the record reached the broker ({received.isoformat()})"
        )
    if not len(rows):
        return
    received64 = np.datetime64(received.astimezone(UTC).replace(tzinfo=None), "ns")
    ends = rows.event_starts + np.timedelta64(resolution)
    early = rows.belief_times < np.minimum(ends, received64)
    if early.any():
        first = int(np.argmax(early))
        raise BackdatedBelief(
            f"A belief about the event at {np.datetime_as_string(rows.event_starts[first], unit='s')}Z is dated "
            f"{np.datetime_as_string(rows.belief_times[first], unit='s')}Z, before the record reached the broker "
            f"and before the event ended."
        )
