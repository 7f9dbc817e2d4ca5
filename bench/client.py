"""A sequential client in a process of its own, as a user's script would call FlexStream; the benchmark runs it
for the latency rows so that the client's own cost shows. Prints one JSON object on stdout:
``{"seconds": [...], "failures": n, "promised": rows, "what": "..."}``.

    python -m bench.client post  --url http://127.0.0.1:18400 --sensor 7 --count 200   (token in BENCH_TOKEN)
    python -m bench.client kafka --bootstrap 127.0.0.1:9092 --prefix bench1234abcd. --sensor 8 --count 200

``post`` sends one new 96-value day per request with httpx (keep-alive) and waits for its 200 (stored);
``kafka`` sends one command per record with an idempotent producer and waits for its ``BeliefsIngested``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.workloads import API, DAY_VALUES, JSON, STEP, day_command, post_body
from shared.kafka import connection_options
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA, key_for


def post(url: str, token: str, sensor_id: int, start: datetime, count: int, warmup: int) -> dict[str, object]:
    values = [float(v) for v in range(DAY_VALUES)]
    seconds: list[float] = []
    failures = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(warmup + count):
            body = post_body(start + i * STEP * DAY_VALUES, values)
            t0 = time.perf_counter()
            response = client.post(API.format(id=sensor_id), content=body, headers={"Authorization": token, **JSON})
            if i >= warmup:
                seconds.append(time.perf_counter() - t0)
            failures += response.status_code != 200
    return {"seconds": seconds, "failures": failures, "promised": (warmup + count) * DAY_VALUES,
            "what": f"httpx in its own process, sequential, after {warmup} warm-up"}  # fmt: skip


async def kafka(
    bootstrap: str, prefix: str, sensor_id: int, start: datetime, count: int, warmup: int
) -> dict[str, object]:
    """Produce one command, read the ingested topic until its event, repeat."""
    ingested = INGESTED.full_name(prefix)
    # The broker's TLS/SASL settings come from FLEXSTREAM_KAFKA_* in the environment, as for any FlexStream client.
    connection = connection_options(Settings(kafka_bootstrap=bootstrap))
    consumer = AIOKafkaConsumer(**connection, enable_auto_commit=False, isolation_level="read_committed")
    producer = AIOKafkaProducer(**connection, acks="all", enable_idempotence=True, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(ingested, p) for p in sorted(await producer.partitions_for(ingested))]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve the end offsets now, before the first command is sent
        values = [float(v) for v in range(DAY_VALUES)]
        seconds: list[float] = []
        failures = 0
        for i in range(warmup + count):
            command = day_command(sensor_id, start + i * STEP * DAY_VALUES, values, "bench-outside")
            payload = SENSOR_DATA.encode(command)
            t0 = time.perf_counter()
            await (await producer.send(SENSOR_DATA.full_name(prefix), payload, key=key_for(sensor_id)))
            event = None
            while event is None:
                batches = await consumer.getmany(timeout_ms=30_000)
                if not batches:
                    raise SystemExit("no BeliefsIngested within 30 s")
                for records in batches.values():
                    for record in records:
                        decoded = INGESTED.decode(record.value)
                        if decoded.command_id == command.command_id:
                            event = decoded
            if i >= warmup:
                seconds.append(time.perf_counter() - t0)
            failures += event.outcome != "processed" or event.rows_written != DAY_VALUES
    finally:
        await producer.stop()
        await consumer.stop()
    return {"seconds": seconds, "failures": failures, "promised": (warmup + count) * DAY_VALUES,
            "what": f"aiokafka in its own process, sequential, after {warmup} warm-up"}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["post", "kafka"])
    parser.add_argument("--url", help="the gateway (post)")
    parser.add_argument("--bootstrap", help="the Kafka broker (kafka)")
    parser.add_argument("--prefix", default="", help="the topic prefix (kafka)")
    parser.add_argument("--sensor", type=int, required=True)
    parser.add_argument("--start", type=datetime.fromisoformat, required=True, help="the first day's start")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    if args.mode == "post":
        report = post(args.url, os.environ["BENCH_TOKEN"], args.sensor, args.start, args.count, args.warmup)
    else:
        report = asyncio.run(kafka(args.bootstrap, args.prefix, args.sensor, args.start, args.count, args.warmup))
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
