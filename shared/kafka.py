"""Kafka helpers shared by every service: producer, consumer and topic creation, all over aiokafka."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

from shared.retry import retrying
from shared.settings import Settings
from shared.topics import ALL_TOPICS, Topic, key_for

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # producers and topics agree (the broker's default is 1 MB)
MAX_BATCH_BYTES = 1024 * 1024  # per partition and request (aiokafka's default, 16 kB, holds ~8 commands of a day)


def connection_options(settings: Settings) -> dict[str, Any]:
    """What every aiokafka client (producer, consumer, admin) needs to reach and authenticate to the broker:
    the bootstrap servers, plus TLS and SASL as ``kafka_security_protocol`` asks (docs/operations.md)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
        )
    if settings.kafka_sasl:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def admin_client(settings: Settings, **overrides: Any) -> AIOKafkaAdminClient:
    """An admin client (not started) with the settings' connection options."""
    return AIOKafkaAdminClient(**connection_options(settings), **overrides)


@asynccontextmanager
async def open_producer(settings: Settings, **overrides: Any) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer that waits for every in-sync replica (``acks=all``).

    No linger: an idle producer sends at once; under load, messages gather into the next request while the
    previous one is in flight, so batches grow without a timer. aiokafka keeps one open batch per partition and
    makes ``send`` wait while it is full, so the batch may grow large (``MAX_BATCH_BYTES``)."""
    options: dict[str, Any] = {
        **connection_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "max_batch_size": MAX_BATCH_BYTES,
        "max_request_size": MAX_MESSAGE_BYTES,
    }
    options.update(overrides)
    producer = AIOKafkaProducer(**options)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def open_consumer(
    settings: Settings,
    topics: Iterable[Topic[Any]],
    group_id: str | None,
    *,
    pattern: str | None = None,
    listener: ConsumerRebalanceListener | None = None,
    **overrides: Any,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer that commits by hand (after the database commit) and starts from the earliest offset.
    With ``pattern`` (and no ``topics``) it reads every topic whose full name matches, new ones included;
    ``listener`` (with ``pattern``) hears of every assignment and revocation.

    The group id gets the topic prefix too, so deployments (or test runs) sharing a broker never share a group.
    """
    options: dict[str, Any] = {
        **connection_options(settings),
        "group_id": f"{settings.topic_prefix}{group_id}" if group_id else None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
    }
    options.update(overrides)
    consumer = AIOKafkaConsumer(*(topic.full_name(settings.topic_prefix) for topic in topics), **options)
    if pattern is not None:
        consumer.subscribe(pattern=pattern, listener=listener)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def all_partitions(consumer: AIOKafkaConsumer, timeout: float = 30) -> list[TopicPartition]:
    """For a consumer without a group, subscribed to its topics: every partition of them, once assigned."""
    names = consumer.subscription()
    deadline = asyncio.get_running_loop().time() + timeout
    while {tp.topic for tp in consumer.assignment()} != names:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no partition metadata for {sorted(names)} within {timeout} s")
        await asyncio.sleep(0.05)
    return sorted(consumer.assignment())


async def position_at_end(consumer: AIOKafkaConsumer, timeout: float = 30) -> list[TopicPartition]:
    """For a consumer without a group, subscribed to its topics: seek to the end of every partition and resolve
    those offsets now (not lazily at the first fetch), so that every record produced after this returns is read.
    Returns the partitions."""
    partitions = await all_partitions(consumer, timeout)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)
    return partitions


@asynccontextmanager
async def following(
    settings: Settings, topics: Iterable[Topic[Any]], handle: Callable[[ConsumerRecord[bytes, bytes]], None]
) -> AsyncIterator[list[TopicPartition]]:
    """Follow ``topics`` from their end, without a consumer group (every partition is read), calling ``handle`` on
    each record in a background task; a broker away is waited out (``shared/retry.py``). The consumer sits at the
    end of every partition before this yields (the partitions), so no record produced afterwards is missed."""
    consumer = AIOKafkaConsumer(
        **connection_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    task: asyncio.Task[None] | None = None
    try:
        consumer.subscribe(topics=sorted(topic.full_name(settings.topic_prefix) for topic in topics))
        partitions = await position_at_end(consumer)
        task = asyncio.create_task(_follow(consumer, handle))
        yield partitions
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()


async def _follow(consumer: AIOKafkaConsumer, handle: Callable[[ConsumerRecord[bytes, bytes]], None]) -> None:
    while True:
        retry = retrying(on=(KafkaError,), first_wait=0.5, max_wait=5, what="fetch", logger=logger)
        async for attempt in retry:
            with attempt:
                batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                handle(record)


async def ensure_topics(settings: Settings, topics: Iterable[Topic[Any]] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet with ``settings.topic_partitions`` partitions."""
    admin = admin_client(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=topic.full_name(settings.topic_prefix),
                num_partitions=settings.topic_partitions,
                replication_factor=1,
                topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)}
                | ({"cleanup.policy": "compact"} if topic.compacted else {}),
            )
            for topic in topics
            if topic.full_name(settings.topic_prefix) not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another replica created it meanwhile
            logger.info("created topics", extra={"topics": [t.name for t in wanted]})
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def ping(settings: Settings) -> bool:
    """True when the broker answers a metadata request."""
    admin = admin_client(settings, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError) as exc:
        logger.warning("kafka not ready: %s", exc)
        return False
    finally:
        await admin.close()


def partition_for(sensor_id: int, partitions: int) -> int:
    """The partition a record keyed by ``sensor_id`` goes to: what aiokafka's (and Java's) default partitioner
    computes from the key, for a topic with ``partitions`` partitions."""
    return int((murmur2(key_for(sensor_id)) & 0x7FFFFFFF) % partitions)


async def delete_prefixed_topics(settings: Settings) -> list[str]:
    """Delete every topic whose name starts with ``settings.topic_prefix`` (the topics of one test session or
    benchmark run, device topics included). An empty prefix deletes nothing: it would name every topic."""
    if not settings.topic_prefix:
        return []
    admin = admin_client(settings)
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()
