"""The broker `make test` runs works with both Kafka clients FlexStream uses: aiokafka (produce,
consume in a group, commit, restart, resume) and faust-streaming (an app joins its group and processes)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition
from pydantic import TypeAdapter

from shared import kafka
from shared.messages import BeliefsIngested
from shared.settings import Settings
from shared.topics import INGESTED, Topic, key_for
from tests.integration.conftest import Service, start_service


async def own_topic(settings: Settings) -> Topic[bytes]:
    """A topic of the test's own (raw bytes), so nothing it writes reaches the services of the run."""
    topic = Topic(f"broker-test-{uuid.uuid4().hex[:8]}", TypeAdapter(bytes))
    await kafka.ensure_topics(settings, [topic])
    return topic


async def test_consumer_resumes_from_committed_offset(settings: Settings) -> None:
    own = await own_topic(settings)
    topic = own.full_name(settings.topic_prefix)
    group = f"resume-{uuid.uuid4().hex[:6]}"
    key = key_for(424242)  # one key: one partition, so offsets are comparable
    async with kafka.open_producer(settings) as producer:
        sent = [await producer.send_and_wait(topic, f"first-{i}".encode(), key=key) for i in range(3)]
    partition = TopicPartition(topic, sent[0].partition)

    async with kafka.open_consumer(settings, [own], group) as consumer:
        seen = await _collect(consumer, partition, 3)
        assert [r.value for r in seen] == [b"first-0", b"first-1", b"first-2"]
        await consumer.commit()
        committed = await consumer.committed(partition)
        assert committed == sent[-1].offset + 1

    async with kafka.open_producer(settings) as producer:
        await producer.send_and_wait(topic, b"second", key=key)
    async with kafka.open_consumer(settings, [own], group) as consumer:
        resumed = await _collect(consumer, partition, 1)
    assert [r.value for r in resumed] == [b"second"]  # nothing before the committed offset comes back


async def _collect(
    consumer: AIOKafkaConsumer, partition: TopicPartition, count: int, timeout: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        records.extend(batch.get(partition, []))
    assert len(records) >= count, f"only {len(records)} of {count} records arrived"
    return records


def _consumed_everything(service: Service) -> bool:
    metrics = httpx.get(f"{service.url}/metrics").text
    valid = 'flexstream_stats_ingested_events_total{valid="true"} '
    counted = any(line.startswith(valid) and float(line.split()[-1]) >= 1 for line in metrics.splitlines())
    return counted and httpx.get(f"{service.url}/health").json().get("lag") == 0


async def test_faust_app_joins_its_group_and_processes(
    settings: Settings, service_logs: Path, topics: list[str]
) -> None:
    app_id = f"flexstream-stats-faust-{uuid.uuid4().hex[:6]}"
    service = start_service("stats", settings, service_logs, stats_app_id=app_id)
    try:
        event = BeliefsIngested(command_id=uuid.uuid4(), sensor_id=7, outcome="processed", rows_written=1)
        async with kafka.open_producer(settings) as producer:
            await producer.send_and_wait(
                INGESTED.full_name(settings.topic_prefix), INGESTED.encode(event), key=key_for(7)
            )
        deadline = time.monotonic() + 60
        while not _consumed_everything(service):  # the event was decoded and its offset committed
            assert time.monotonic() < deadline, service.logs()[-3000:]
            await asyncio.sleep(0.5)
        admin = kafka.admin_client(settings)
        await admin.start()
        try:
            groups = {group[0] for group in await admin.list_consumer_groups()}
        finally:
            await admin.close()
        assert f"{settings.topic_prefix}{app_id}" in groups  # the app id is its consumer group
    finally:
        assert service.stop() == 0


async def test_deleting_a_prefix_removes_its_topics_and_no_others(settings: Settings) -> None:
    """The session's teardown deletes its topics this way (a broker kept between runs collected them before)."""
    prefix = f"{settings.topic_prefix}gone{uuid.uuid4().hex[:6]}."
    doomed, kept = settings.model_copy(update={"topic_prefix": prefix}), await own_topic(settings)
    created = await kafka.ensure_topics(doomed)
    assert created and all(name.startswith(prefix) for name in created)
    assert sorted(await kafka.delete_prefixed_topics(doomed)) == sorted(created)
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        for _ in range(50):  # the broker applies a deletion to its metadata shortly after answering
            remaining = set(await admin.list_topics())
            if not {name for name in remaining if name.startswith(prefix)}:
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    assert not {name for name in remaining if name.startswith(prefix)}
    assert kept.full_name(settings.topic_prefix) in remaining
    assert await kafka.delete_prefixed_topics(settings.model_copy(update={"topic_prefix": ""})) == []
