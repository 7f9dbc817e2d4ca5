"""A sensor event evicts exactly its sensor from a gateway's sensor cache."""

from services.gateway.workers.sensor_cache_evictor import evict
from shared.messages import SensorChanged
from shared.topics import SENSOR_EVENTS


def test_an_event_evicts_its_sensor_only() -> None:
    cache = {1: "one", 2: "two"}
    evict(cache, SENSOR_EVENTS.encode(SensorChanged(change="deleted", sensor_id=2, sensor=None)))
    assert cache == {1: "one"}
    evict(cache, SENSOR_EVENTS.encode(SensorChanged(change="deleted", sensor_id=3, sensor=None)))  # not cached
    assert cache == {1: "one"}


def test_an_undecodable_event_is_skipped() -> None:
    cache = {1: "one"}
    evict(cache, b"{not json")
    evict(cache, None)
    assert cache == {1: "one"}
