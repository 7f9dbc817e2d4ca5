from datetime import UTC, datetime, timedelta
from uuid import uuid4

from shared.messages import BeliefsIngested, DeleteSensorData, PostSensorData, SensorChanged, SensorSnapshot
from shared.topics import ALL_TOPICS, INGESTED, SENSOR_DATA, SENSOR_EVENTS, key_for


def test_sensor_data_round_trip_through_the_discriminated_union() -> None:
    post = PostSensorData(
        sensor_id=3, start=datetime(2024, 1, 1, tzinfo=UTC), duration=timedelta(hours=1), values=[1.5, None], unit="kW"
    )
    delete = DeleteSensorData(sensor_id=3)
    assert SENSOR_DATA.decode(SENSOR_DATA.encode(post)) == post
    assert SENSOR_DATA.decode(SENSOR_DATA.encode(delete)) == delete


def test_readers_tolerate_added_fields() -> None:
    event = BeliefsIngested(command_id=uuid4(), sensor_id=1, outcome="processed")
    data = event.model_dump_json()[:-1] + ', "added_later": 1}'
    assert INGESTED.decode(data.encode()) == event


def test_sensor_events_are_keyed_by_sensor_and_compacted() -> None:
    snapshot = SensorSnapshot(
        id=5, name="p", unit="kW", timezone="UTC", event_resolution=timedelta(minutes=15), generic_asset_id=1
    )
    changed = SensorChanged(change="created", sensor_id=5, sensor=snapshot)
    assert SENSOR_EVENTS.decode(SENSOR_EVENTS.encode(changed)) == changed
    assert SENSOR_EVENTS.compacted and key_for(5) == b"5"


def test_topic_names_are_versioned() -> None:
    assert all(t.name.startswith("flexstream.") and t.name.rsplit(".", 1)[1].startswith("v") for t in ALL_TOPICS)
