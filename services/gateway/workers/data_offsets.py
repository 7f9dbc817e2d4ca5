"""Where the sensor-data topic ends, for the read-your-writes guarantee of schedule triggers.

A trigger records, per partition that holds data of a sensor the job reads, the topic's end offset at that
moment. Every sensor-data command whose POST was answered before the trigger (200 after ingest stored it, or
202 once it was durable in Kafka) lies below that offset, so the scheduler, which waits until ingest's committed
offsets reach these marks before it reads any series, sees all of them (docs/architecture.md, "Scheduler").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import kafka
from shared.settings import Settings
from shared.topics import SENSOR_DATA


class DataOffsets:
    def __init__(self, consumer: AIOKafkaConsumer, topic: str, partitions: int) -> None:
        self._consumer = consumer
        self._topic = topic
        self._partitions = partitions

    async def ends(self) -> dict[int, int]:
        """Partition → end offset, for every partition of the topic that holds any record (one request)."""
        ends = await self._consumer.end_offsets([TopicPartition(self._topic, p) for p in range(self._partitions)])
        return {tp.partition: int(offset) for tp, offset in ends.items() if offset > 0}

    @asynccontextmanager
    async def ahead(self) -> AsyncIterator[asyncio.Future[dict[int, int]]]:
        """``ends`` asked for now, while the trigger reads and checks its sensors: any moment after the trigger
        arrived gives marks above every POST answered before it. Not awaited by the end of the block (the trigger
        was refused): cancelled, and a failure nobody needed is taken, so it is not logged as never retrieved."""
        future = asyncio.ensure_future(self.ends())
        try:
            yield future
        finally:
            if not future.cancel() and not future.cancelled():
                future.exception()

    def marks(self, ends: dict[int, int], sensor_ids: Iterable[int]) -> dict[int, int]:
        """Of ``ends``, the partitions of ``sensor_ids``."""
        wanted = {kafka.partition_for(sensor_id, self._partitions) for sensor_id in sensor_ids}
        return {partition: offset for partition, offset in sorted(ends.items()) if partition in wanted}


@asynccontextmanager
async def open_data_offsets(settings: Settings, producer: AIOKafkaProducer) -> AsyncIterator[DataOffsets]:
    """A group-less consumer that only asks for end offsets (it never fetches records); the partition count comes
    from the producer's metadata, the same the producer partitions by."""
    topic = SENSOR_DATA.full_name(settings.topic_prefix)
    partitions = await producer.partitions_for(topic)
    async with kafka.open_consumer(settings, [], None) as consumer:
        yield DataOffsets(consumer, topic, len(partitions))
