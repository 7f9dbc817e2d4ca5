"""Waiting until ingest has stored every sensor-data command a trigger must see (read-your-writes).

The trigger carries the end offsets of the sensor-data partitions its job reads, taken when it was accepted.
Ingest records how far it has finished each partition in the transaction that stored those commands
(``ingest_progress``), so once that reaches the marks, every earlier command is in the database. For a partition
PostgreSQL shows behind, ingest group's committed Kafka offsets are asked too: they are committed only after the
records are stored, and they cover what ingest stored before it recorded its progress in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from services.scheduler import sql
from shared.errors import FlexStreamError

logger = logging.getLogger(__name__)


class IngestBehind(FlexStreamError):
    """Ingest did not store the data posted before the trigger in time."""

    reason = "ingest_behind"


def behind(marks: Mapping[int, int], committed: Mapping[int, int]) -> dict[int, int]:
    """Partition → how many records ingest still has to commit there (only the partitions that lag)."""
    return {p: mark - max(committed.get(p, 0), 0) for p, mark in marks.items() if committed.get(p, -1) < mark}


class Stopping(Exception):
    """The service is stopping while a job waits: the job is left as it is and its trigger uncommitted."""


class IngestProgress:
    def __init__(
        self, pool: AsyncConnectionPool, admin: AIOKafkaAdminClient, group: str, topic: str, stop: asyncio.Event
    ) -> None:
        self._pool = pool
        self._admin = admin
        self._group = group
        self._topic = topic
        self._stop = stop
        self._coordinator: int | None = None  # the group's coordinator, asked once and kept while it answers

    async def recorded(self, partitions: list[int]) -> dict[int, int]:
        """How far ingest has finished ``partitions``, as recorded in PostgreSQL."""
        async with self._pool.connection() as conn:
            return await sql.ingest_progress(conn, self._topic, partitions)

    async def committed(self, partitions: list[int]) -> dict[int, int]:
        """The group's committed offsets of ``partitions``: one request to the group's coordinator (found once and
        found again when it no longer answers, e.g. after it moved)."""
        try:
            return await self._committed(partitions)
        except KafkaError:
            self._coordinator = None
            return await self._committed(partitions)

    async def _committed(self, partitions: list[int]) -> dict[int, int]:
        if self._coordinator is None:
            self._coordinator = await self._admin.find_coordinator(self._group)
        offsets = await self._admin.list_consumer_group_offsets(
            self._group, self._coordinator, partitions=[TopicPartition(self._topic, p) for p in partitions]
        )
        return {tp.partition: meta.offset for tp, meta in offsets.items()}

    async def stored(self, marks: Mapping[int, int]) -> dict[int, int]:
        """How far ingest has stored the partitions of ``marks``: as recorded in PostgreSQL, or, where that falls
        short of the mark, as its committed Kafka offsets say, whichever is further."""
        stored = await self.recorded(sorted(marks))
        if short := sorted(behind(marks, stored)):
            committed = await self.committed(short)
            stored |= {p: max(stored.get(p, -1), committed.get(p, -1)) for p in short}
        return stored

    async def wait_for(self, marks: Mapping[int, int], timeout: float) -> float:
        """Return the seconds waited once ingest's progress reaches ``marks``; IngestBehind after ``timeout``,
        Stopping when the service is asked to stop meanwhile."""
        if not marks:
            return 0.0
        began = time.monotonic()
        delay = 0.005
        while True:
            lag = behind(marks, await self.stored(marks))
            if not lag:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise IngestBehind(
                    f"Sensor data posted before this schedule was triggered has not been stored within {timeout:g} s "
                    f"(ingest is {sum(lag.values())} records behind); trigger the schedule again once it has caught up"
                )
            if self._stop.is_set():
                raise Stopping
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
