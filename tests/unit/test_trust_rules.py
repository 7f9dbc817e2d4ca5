"""The device rules of ingest (services/ingest/trust.py), the per-account topic names and the ACLs
(shared/kafka_grants.py), checked without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import ConsumerRecord

from services.ingest.trust import TopicTrust, check_belief_times, check_command, check_sensor, received_at
from shared.beliefs import BeliefRows, SensorInfo, rows_for
from shared.errors import (
    BackdatedBelief,
    DeletionNotAllowed,
    FieldNotAllowed,
    FlexStreamError,
    NotDeviceSensor,
    ReplaceNotAllowed,
    SourceNotAllowed,
)
from shared.kafka_grants import Grant, Operation, Pattern, Resource, device_grants, service_grants, user
from shared.messages import DataCommand, PostSensorData
from shared.topics import DEVICE_DATA, DEVICE_SCHEDULES, INGESTED, SENSOR_DATA, SENSOR_DATA_DLQ

SENSOR = SensorInfo(7, "kW", timedelta(minutes=15))
RECEIVED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def command(**fields: object) -> DataCommand:
    body = {"type": "PostSensorData", "sensor_id": 7, "start": "2026-01-10T10:00:00+00:00", "duration": "PT1H",
            "values": [1, 2, 3, 4], "unit": "kW", "horizon": "PT0H"} | fields  # fmt: skip
    return SENSOR_DATA.decode(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"source_id": 3}, SourceNotAllowed),
        ({"source_name": "someone"}, SourceNotAllowed),
        ({"replace": True}, ReplaceNotAllowed),
        ({"recorded_at": "2026-01-01T00:00:00+00:00"}, FieldNotAllowed),
        ({"command_id": "00000000-0000-0000-0000-000000000001"}, FieldNotAllowed),
        ({"type": "DeleteSensorData"}, DeletionNotAllowed),
    ],
)
def test_a_device_command_breaking_a_rule_is_refused(fields: dict[str, object], error: type[FlexStreamError]) -> None:
    with pytest.raises(error):
        check_command(command(**fields), TopicTrust())


def test_a_plain_device_command_passes_and_replace_passes_where_overwrites_are_allowed() -> None:
    check_command(command(), TopicTrust())
    check_command(command(replace=True), TopicTrust(allow_data_overwrite=True))


def test_the_sensor_must_be_of_the_topic_account() -> None:
    check_sensor(5, 7, 5)
    for owner in (6, None):  # another account's sensor, a public one
        with pytest.raises(NotDeviceSensor):
            check_sensor(5, 7, owner)


def test_measurements_may_be_late_but_no_belief_is_dated_before_the_broker_got_it() -> None:
    # beliefs at each event's end (before RECEIVED): a measurement
    check_belief_times(rows(horizon="PT0H"), SENSOR.event_resolution, RECEIVED)
    forecast = rows(start="2026-01-10T14:00:00+00:00", horizon="PT2H")  # beliefs from 12:15 on
    check_belief_times(forecast, SENSOR.event_resolution, RECEIVED)
    check_belief_times(forecast, SENSOR.event_resolution, RECEIVED + timedelta(minutes=20))  # within the tolerance
    with pytest.raises(BackdatedBelief):  # the same forecast reaching the broker at 13:00: dated before that
        check_belief_times(forecast, SENSOR.event_resolution, RECEIVED + timedelta(hours=1))
    just_now = RECEIVED - timedelta(minutes=1)  # the device's clock, a moment before the broker got it: accepted
    check_belief_times(
        rows(prior=just_now.isoformat(), horizon=None), SENSOR.event_resolution, RECEIVED, prior=just_now
    )
    with pytest.raises(BackdatedBelief):
        check_belief_times(rows(prior="2026-01-10T11:00:00+00:00", horizon=None), SENSOR.event_resolution, RECEIVED,
                           prior=datetime(2026, 1, 10, 11, tzinfo=UTC))  # fmt: skip


def test_the_broker_time_of_a_record_is_trusted_only_when_the_broker_set_it() -> None:
    def record(timestamp_type: int) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", 0, 0, int(RECEIVED.timestamp() * 1000), timestamp_type, None, b"", None, 0, 0, [])

    assert received_at(record(1)) == RECEIVED  # LogAppendTime
    assert received_at(record(0)) > RECEIVED  # the producer's CreateTime: now instead


def test_device_topics_name_their_account_and_nothing_else_matches() -> None:
    assert DEVICE_DATA.for_account(12).full_name("p.") == "p.flexstream.devices.12.sensor-data.v1"
    assert TopicTrust("p.").device_account("p.flexstream.devices.12.sensor-data.v1") == 12
    others = (
        "p.flexstream.sensor-data.v1", "flexstream.devices.12.sensor-data.v1", "p.flexstream.devices.12.schedules.v1",
        "p.flexstream.devices.1x.sensor-data.v1", "p.flexstream.devices.12.sensor-data.v1x",
    )  # fmt: skip
    for other in others:
        assert TopicTrust("p.").device_account(other) is None, other


def rows(**fields: object) -> BeliefRows:
    post = command(**fields)
    assert isinstance(post, PostSensorData)
    return rows_for(post, SENSOR, max_values=100)


def grants_of(grants: list[Grant], principal: str) -> set[tuple[Resource, str, Pattern, Operation]]:
    return {(g.resource, g.name, g.pattern, g.operation) for g in grants if g.principal == principal}


def test_only_the_gateway_writes_the_command_topic_and_only_ingest_writes_events() -> None:
    grants = service_grants("p.")
    writers = {g.principal for g in grants if g.operation == Operation.WRITE and g.name == SENSOR_DATA.full_name("p.")}
    assert writers == {user("gateway")}
    for topic in (INGESTED, SENSOR_DATA_DLQ):
        assert {g.principal for g in grants if g.operation == Operation.WRITE and g.name == topic.full_name("p.")} == {
            user("ingest")
        }
    assert all(g.name.startswith("p.") for g in grants)


def test_the_gateway_reads_neither_events_nor_dead_letters() -> None:
    """Its waiting writes are answered from PostgreSQL (services/gateway/workers/write_waiter.py)."""
    gateway = grants_of(service_grants("p."), user("gateway"))
    for topic in (INGESTED, SENSOR_DATA_DLQ):
        assert (Resource.TOPIC, topic.full_name("p."), Pattern.LITERAL, Operation.READ) not in gateway


def test_a_device_writes_its_account_topic_and_reads_its_account_schedules_only() -> None:
    grants = device_grants("p.", 12, "device-12-meter")
    mine = grants_of(grants, user("device-12-meter"))
    data, schedules = DEVICE_DATA.for_account(12).full_name("p."), DEVICE_SCHEDULES.for_account(12).full_name("p.")
    assert (Resource.TOPIC, data, Pattern.LITERAL, Operation.WRITE) in mine
    assert (Resource.TOPIC, schedules, Pattern.LITERAL, Operation.READ) in mine
    topics = {(name, op) for resource, name, _, op in mine if resource == Resource.TOPIC}
    assert {name for name, _ in topics} == {data, schedules}
    assert (data, Operation.READ) not in topics and (schedules, Operation.WRITE) not in topics
    assert all(pattern == Pattern.LITERAL for resource, _, pattern, _ in mine if resource == Resource.TOPIC)
    assert (Resource.TOPIC, data, Pattern.LITERAL, Operation.READ) in grants_of(grants, user("ingest"))
