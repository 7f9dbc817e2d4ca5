"""Ingest's Kafka offset commits: where a restarted or rebalanced consumer resumes, not whether data is stored.

A batch's offsets become ready once its transaction has committed and the broker has its events and dead letters
(``main.finish``). Ready offsets are committed together every ``FLEXSTREAM_INGEST_COMMIT_INTERVAL_MS``, for the
partitions a rebalance is about to take away, and when ingest stops. What is stored is recorded in PostgreSQL, in
the batch's own transaction (``ingest_progress``, which scheduling jobs wait on), so a commit that comes later only
means that a restart replays a few more records: it finds their commands done and sends their events again.

A commit that races a rebalance is refused by the broker (``CommitFailedError``). That loses nothing either: the
partitions' next owner reads those records again and finds them done. The consumer rejoins the group by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter

logger = logging.getLogger(__name__)

COMMITS_REFUSED = Counter(
    "flexstream_ingest_commits_refused_total", "Offset commits the broker refused because the group was rebalancing"
)


class OffsetCommits:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._ready: dict[TopicPartition, int] = {}
        self._one_at_a_time = asyncio.Lock()  # so a partition's committed offset only moves forward

    def ready(self, offsets: Mapping[TopicPartition, int]) -> None:
        """``offsets`` (the next offset to read, per partition) may be committed."""
        for tp, offset in offsets.items():
            self._ready[tp] = max(self._ready.get(tp, 0), offset)

    async def commit(self, only: Collection[TopicPartition] | None = None) -> None:
        """Commit the ready offsets (``only`` those of these partitions) of the partitions still assigned; those of
        a partition taken away meanwhile are dropped (its new owner replays from its last commit)."""
        async with self._one_at_a_time:
            assigned = self._consumer.assignment()
            for tp in [tp for tp in self._ready if tp not in assigned]:
                del self._ready[tp]
            offsets = {tp: o for tp, o in self._ready.items() if only is None or tp in only}
            if not offsets:
                return
            for tp in offsets:
                del self._ready[tp]
            partitions = sorted(f"{tp.topic}:{tp.partition}" for tp in offsets)
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError:
                COMMITS_REFUSED.inc()
                logger.warning(
                    "offsets not committed: the group was rebalancing; the partitions' next owner replays them",
                    extra={"partitions": partitions},
                )
            except KafkaError as exc:  # e.g. the broker is away: the next commit tries again
                self.ready(offsets)
                logger.warning("offsets not committed: %s", exc, extra={"partitions": partitions})

    async def every(self, interval: float) -> None:
        """Commit every ``interval`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.commit()
