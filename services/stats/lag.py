"""How far the stats service is behind ``flexstream.ingested.v1``: the sum over partitions of the topic's
end offset minus the offset the stats consumer group committed (offsets are committed after the
aggregates of the events before them were stored). A probe that cannot reach the broker says so (None)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from shared import kafka
from shared.settings import Settings

logger = logging.getLogger(__name__)

LAG = Gauge("flexstream_stats_lag_messages", "BeliefsIngested events not yet reflected in the stats aggregates")
PROBE_TIMEOUT = 5.0  # seconds; a broker that does not answer within it counts as down


def lag_from(end: Mapping[int, int], committed: Mapping[int, int], beginning: Mapping[int, int]) -> int:
    """Messages behind, per partition from the committed offset (or the first retained one) to the end."""
    return sum(max(0, offset - committed.get(p, beginning.get(p, 0))) for p, offset in end.items())


async def _offsets(settings: Settings, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(**kafka.connection_options(settings), enable_auto_commit=False, request_timeout_ms=4000)
    admin = kafka.admin_client(settings, request_timeout_ms=4000)
    try:
        await consumer.start()
        await admin.start()
        partitions = [TopicPartition(topic, p) for p in await _partitions(admin, topic)]
        end = await consumer.end_offsets(partitions)
        beginning = await consumer.beginning_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        return lag_from(
            {tp.partition: o for tp, o in end.items()},
            {tp.partition: meta.offset for tp, meta in committed.items() if meta.offset >= 0},
            {tp.partition: o for tp, o in beginning.items()},
        )
    finally:
        await consumer.stop()
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """The topic's partitions; a topic that does not exist (yet) is an error, not "no lag"."""
    [described] = await admin.describe_topics([topic])
    if described["error_code"] or not described["partitions"]:
        raise KafkaError(f"topic {topic} cannot be described (error code {described['error_code']})")
    return sorted(int(p["partition"]) for p in described["partitions"])


async def probe(settings: Settings, topic: str, group: str) -> int | None:
    """The current lag (also set on the Prometheus gauge), or None when the broker cannot be reached."""
    try:
        lag = await asyncio.wait_for(_offsets(settings, topic, group), PROBE_TIMEOUT)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.warning("kafka unreachable while measuring the stats lag: %s", exc)
        return None
    LAG.set(lag)
    return lag
