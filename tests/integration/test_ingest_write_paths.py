"""Ingest's two write paths on the real database: a straight COPY where a command's window holds no stored
belief, the staging comparison elsewhere, and the fall-back from the first to the second when beliefs appear
in the window between the check and the COPY (another writer)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from services.ingest import handlers, sql
from shared import channels, db
from shared.messages import PostSensorData
from shared.settings import Settings
from shared.topics import INGESTED, SENSOR_DATA, key_for
from tests.integration.conftest import Factory
from tests.integration.libpq_trace import round_trips, traced

START = datetime(2025, 3, 1, tzinfo=UTC)


def record(command: PostSensorData, offset: int) -> ConsumerRecord[bytes, bytes]:
    value = SENSOR_DATA.encode(command)
    return ConsumerRecord("t", 0, offset, 0, 0, key_for(command.sensor_id), value, None, 0, len(value), [])


def post(
    sensor: int, values: list[float | None], prior: datetime, *, source: int | None = None, start: datetime = START
) -> PostSensorData:
    """A series from ``start``; from the source named ``write-paths``, or (as the gateway sends) from ``source``."""
    return PostSensorData(
        sensor_id=sensor, start=start, duration=timedelta(minutes=15 * len(values)), values=values, unit="kW",
        prior=prior, source_name="write-paths", source_id=source,
    )  # fmt: skip


async def source_id(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        return await sql.device_source_id(conn, "write-paths")


@pytest.fixture(params=["the caller's transaction", "its own transaction"])
def own(request: pytest.FixtureRequest) -> bool:
    """Both ways ingest_batch runs: in its caller's transaction, or (as ingest runs it) sending its own."""
    return bool(request.param == "its own transaction")


async def ingest(pool: AsyncConnectionPool, *commands: PostSensorData, own: bool = False) -> list[str]:
    records = [record(c, i) for i, c in enumerate(commands)]
    if own:
        async with db.own_transaction(pool) as conn:
            results = await handlers.ingest_batch(conn, records, max_values=10**6)
            assert conn.info.transaction_status == TransactionStatus.IDLE  # committed
    else:
        async with pool.connection() as conn, conn.transaction():
            results = await handlers.ingest_batch(conn, records, max_values=10**6)
    assert not results.dead, results.dead
    return [e.outcome for e in results.ingested]


async def posted_in_own_transaction(
    pool: AsyncConnectionPool, sensor: int, offset: int, prior: datetime, source: int | None
) -> str:
    """The libpq trace of ingesting, in its own transaction, a post of two values from ``source``."""
    async with db.own_transaction(pool) as conn:
        record_ = record(post(sensor, [1.0, 2.0], prior, source=source), offset)
        return await traced(conn, lambda: handlers.ingest_batch(conn, [record_], max_values=10**6))


async def stored(pool: AsyncConnectionPool, sensor: int) -> list[tuple[float, datetime]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_value, belief_time FROM timed_beliefs WHERE sensor_id = %s ORDER BY event_start, belief_time",
            (sensor,),
        )
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def test_fresh_windows_are_copied_and_repeats_are_compared(
    factory: Factory, pool: AsyncConnectionPool, own: bool
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    first, later = START + timedelta(days=1), START + timedelta(days=2)
    assert await ingest(pool, post(sensor, [1.0, 2.0], first), own=own) == ["processed"]  # nothing stored: COPY
    assert await ingest(pool, post(sensor, [1.0, 2.0], later), own=own) == ["already_received"]  # nothing new
    assert await ingest(pool, post(sensor, [1.0, 5.0], first), own=own) == ["replacement_rejected"]
    assert await stored(pool, sensor) == [(1.0, first), (2.0, first)]


async def test_beliefs_appearing_after_the_check_send_the_command_the_comparing_way(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch, own: bool
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    prior = START + timedelta(days=1)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior), own=own) == ["processed"]

    check = sql.commands_over_stored_beliefs

    async def nothing_stored(conn: AsyncConnection[Any], windows: Any) -> set[int]:
        await check(conn, windows)
        return set()  # as if the rows above were written by another replica just after the check

    monkeypatch.setattr(sql, "commands_over_stored_beliefs", nothing_stored)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior), own=own) == ["already_received"]
    assert await ingest(pool, post(sensor, [1.0, 3.0], prior), own=own) == ["replacement_rejected"]
    assert await stored(pool, sensor) == [(1.0, prior), (2.0, prior)]


async def test_its_own_transaction_saves_the_round_trips_of_begin_and_commit(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same command (to a sensor of its own each time, so both take the straight COPY) in its caller's
    transaction and in its own: two round trips fewer, the same beliefs stored."""
    monkeypatch.setattr(handlers, "INSERT_MAX_ROWS", 0)  # no insert with the COMMIT (the next test)
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset), await factory.sensor(asset)]
    prior = START + timedelta(days=1)
    traces = []
    async with pool.connection() as conn:

        async def in_callers() -> None:
            async with conn.transaction():
                await handlers.ingest_batch(conn, [record(post(sensors[0], [1.0, 2.0], prior), 0)], max_values=10**6)

        traces.append(await traced(conn, in_callers))
    async with db.own_transaction(pool) as conn:

        async def its_own() -> None:
            await handlers.ingest_batch(conn, [record(post(sensors[1], [1.0, 2.0], prior), 1)], max_values=10**6)

        traces.append(await traced(conn, its_own))
    callers, own = map(round_trips, traces)
    assert own == callers - 2, (callers, own, traces[1])
    assert await stored(pool, sensors[0]) == await stored(pool, sensors[1]) == [(1.0, prior), (2.0, prior)]


async def test_a_small_batch_inserts_its_beliefs_with_the_commit(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to ``INSERT_MAX_ROWS`` beliefs bound for empty windows go in the round trip of the ``COMMIT`` instead of
    a COPY (two round trips of its own): a post from a given source is then written in two round trips."""
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset), await factory.sensor(asset)]
    source, prior = await source_id(pool), START + timedelta(days=1)

    inserted = await posted_in_own_transaction(pool, sensors[0], 0, prior, source)
    monkeypatch.setattr(handlers, "INSERT_MAX_ROWS", 1)
    copied = await posted_in_own_transaction(pool, sensors[1], 1, prior, source)
    assert round_trips(inserted) == 2, inserted
    assert round_trips(copied) == 4, copied
    assert await stored(pool, sensors[0]) == await stored(pool, sensors[1]) == [(1.0, prior), (2.0, prior)]


async def test_a_source_named_by_its_command_is_found_by_the_first_look_ups(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    """A command that names its source (as a device producing straight to Kafka does) instead of giving its id:
    once that source exists, the look-ups of the batch's first round trip find it, and the post is written in two
    round trips, as one from a source given by id. A name not seen before is created after the check's savepoint,
    which is then set again: two round trips more, once per new name."""
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset) for _ in range(3)]
    source, prior = await source_id(pool), START + timedelta(days=1)  # the source named "write-paths"

    by_id = await posted_in_own_transaction(pool, sensors[0], 0, prior, source)
    by_name = await posted_in_own_transaction(pool, sensors[1], 1, prior, None)
    assert round_trips(by_id) == round_trips(by_name) == 2, (by_id, by_name)
    async with db.own_transaction(pool) as conn:
        new_name = post(sensors[2], [1.0, 2.0], prior).model_copy(update={"source_name": "write-paths, new"})
        created = await traced(conn, lambda: handlers.ingest_batch(conn, [record(new_name, 2)], max_values=10**6))
    assert round_trips(created) == 4, created
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tb.sensor_id, ds.name FROM timed_beliefs tb JOIN data_sources ds ON ds.id = tb.source_id"
            " WHERE tb.sensor_id = ANY(%s) GROUP BY 1, 2 ORDER BY 1",
            (sensors,),
        )
        assert await cur.fetchall() == [
            (sensors[0], "write-paths"), (sensors[1], "write-paths"), (sensors[2], "write-paths, new")
        ]  # fmt: skip


async def test_a_sensor_id_beyond_the_column_in_a_checked_batch_is_an_unknown_sensor(
    factory: Factory, pool: AsyncConnectionPool, own: bool
) -> None:
    """A producer writing straight to Kafka may send any integer as a sensor id. One beyond the ``integer`` column
    names no sensor: its command is dead-lettered as such, and the batch's other commands (whose windows are
    checked with the look-ups) are stored."""
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    source, prior = await source_id(pool), START + timedelta(days=1)
    huge = post(sensor, [3.0], prior, source=source).model_copy(update={"sensor_id": 2**40})
    records = [record(post(sensor, [1.0, 2.0], prior, source=source), 0), record(huge, 1)]
    if own:
        async with db.own_transaction(pool) as conn:
            results = await handlers.ingest_batch(conn, records, max_values=10**6)
    else:
        async with pool.connection() as conn, conn.transaction():
            results = await handlers.ingest_batch(conn, records, max_values=10**6)
    assert [(d.reason, d.sensor_id) for d in results.dead] == [("unknown_sensor", 2**40)]
    assert [e.outcome for e in results.ingested] == ["processed"]
    assert await stored(pool, sensor) == [(1.0, prior), (2.0, prior)]


async def test_beliefs_appearing_before_the_insert_with_the_commit_keep_the_rounds_other_writes(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round: a correction compared and written, and a post whose window another writer filled after the
    check. The post's insert with the ``COMMIT`` fails; going back to before it must keep the correction."""
    asset = await factory.asset(await factory.account())
    corrected, raced = await factory.sensor(asset), await factory.sensor(asset)
    source, first, later = await source_id(pool), START + timedelta(days=1), START + timedelta(days=2)
    for sensor in (corrected, raced):
        assert await ingest(pool, post(sensor, [1.0, 2.0], first, source=source), own=True) == ["processed"]

    load_context = sql.load_context

    async def raced_not_stored(*args: Any, **kwargs: Any) -> sql.BatchContext:
        context = await load_context(*args, **kwargs)
        return dataclasses.replace(context, stored=context.stored - {1})  # the second command's window

    monkeypatch.setattr(sql, "load_context", raced_not_stored)
    outcomes = await ingest(
        pool, post(corrected, [1.0, 5.0], later, source=source), post(raced, [1.0, 2.0], first, source=source), own=True
    )
    assert outcomes == ["already_received", "already_received"]  # the correction skipped its unchanged value
    assert await stored(pool, corrected) == [(1.0, first), (2.0, first), (5.0, later)]
    assert await stored(pool, raced) == [(1.0, first), (2.0, first)]


async def test_posts_from_a_given_source_check_their_windows_with_the_look_ups(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that writes nothing before its COPY (no deletion, device record or source by name) checks its
    windows for stored beliefs in the round trip of its look-ups: one round trip fewer, the same beliefs stored."""
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset), await factory.sensor(asset)]
    source, prior = await source_id(pool), START + timedelta(days=1)

    early = await posted_in_own_transaction(pool, sensors[0], 0, prior, source)
    monkeypatch.setattr(handlers, "early_windows", lambda items: [])
    late = await posted_in_own_transaction(pool, sensors[1], 1, prior, source)
    assert round_trips(early) == round_trips(late) - 1, (early, late)
    assert await stored(pool, sensors[0]) == await stored(pool, sensors[1]) == [(1.0, prior), (2.0, prior)]


async def test_a_window_checked_early_but_moved_by_the_sensor_is_checked_again(
    factory: Factory, pool: AsyncConnectionPool, own: bool
) -> None:
    """A sensor's ``frequency`` rounds a series' start to before the window checked with the look-ups: the
    command's own window is checked before the COPY, finds the stored belief there and compares with it."""
    sensor = await factory.sensor(await factory.asset(await factory.account()), attributes={"frequency": "15min"})
    source = await source_id(pool)
    first, later = START + timedelta(days=1), START + timedelta(days=2)
    assert await ingest(pool, post(sensor, [1.0], first, source=source), own=own) == ["processed"]
    moved = post(sensor, [1.0], later, source=source, start=START + timedelta(minutes=5))  # rounded to START
    assert await ingest(pool, moved, own=own) == ["already_received"]
    assert await stored(pool, sensor) == [(1.0, first)]


async def test_beliefs_appearing_after_the_early_check_send_the_command_the_comparing_way(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch, own: bool
) -> None:
    """The savepoint set with the look-ups is where a COPY that meets another writer's rows goes back to."""
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    source, prior = await source_id(pool), START + timedelta(days=1)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior, source=source), own=own) == ["processed"]

    load_context = sql.load_context

    async def nothing_stored(*args: Any, **kwargs: Any) -> sql.BatchContext:
        assert kwargs["windows"], "the check goes with the look-ups"
        context = await load_context(*args, **kwargs)
        return dataclasses.replace(context, stored=set())  # as if another replica wrote just after the check

    monkeypatch.setattr(sql, "load_context", nothing_stored)
    assert await ingest(pool, post(sensor, [1.0, 2.0], prior, source=source), own=own) == ["already_received"]
    assert await ingest(pool, post(sensor, [1.0, 3.0], prior, source=source), own=own) == ["replacement_rejected"]
    assert await stored(pool, sensor) == [(1.0, prior), (2.0, prior)]


async def test_a_failure_in_its_own_transaction_rolls_it_back(
    factory: Factory, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = await factory.sensor(await factory.asset(await factory.account()))

    async def refused(conn: AsyncConnection[Any], results: Any, **kwargs: Any) -> None:
        raise RuntimeError("the results could not be recorded")

    monkeypatch.setattr(sql, "record_done_commands", refused)
    with pytest.raises(RuntimeError):
        await ingest(pool, post(sensor, [1.0, 2.0], START), own=True)
    monkeypatch.undo()
    assert await stored(pool, sensor) == []  # the COPY before the failure was rolled back
    async with pool.connection() as conn:  # and the pool's connections are usable and transactional
        assert not conn.autocommit
        assert conn.info.transaction_status == TransactionStatus.IDLE


def _rows_read_from_beliefs(plan: dict[str, Any]) -> int:
    """Rows the scans of ``timed_beliefs`` chunks returned, over all their loops (EXPLAIN ANALYZE, JSON)."""
    own = 0
    if "Scan" in plan["Node Type"] and str(plan.get("Relation Name", "")).startswith("_hyper_"):
        own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    return own + sum(_rows_read_from_beliefs(child) for child in plan.get("Plans", []))


async def test_the_stored_window_check_probes_each_window_instead_of_reading_the_span(
    factory: Factory, pool: AsyncConnectionPool
) -> None:
    """A batch of a thousand windows in a span holding 300,000 beliefs: the check reads at most one belief per
    window (it used to hash every belief of the span, so its cost grew with what the span holds)."""
    asset = await factory.asset(await factory.account())
    filled = [await factory.sensor(asset) for _ in range(50)]
    fresh = await factory.sensor(asset)
    span = datetime(2031, 1, 1, tzinfo=UTC)
    async with pool.connection() as conn:
        cur = await conn.execute("INSERT INTO data_sources (name, type) VALUES ('window-check', 'test') RETURNING id")
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO timed_beliefs (sensor_id, event_start, source_id, belief_time, cumulative_probability,"
            " event_value) SELECT s, t, %(source)s, t, 0.5, 1.0 FROM unnest(%(sensors)s::integer[]) AS s,"
            " generate_series(%(lo)s::timestamptz, %(lo)s::timestamptz + interval '62 days' - interval '15 min',"
            " interval '15 min') AS t",
            {"source": row[0], "sensors": filled, "lo": span},
        )
        await conn.commit()
    day = timedelta(days=1)
    windows = [
        (i * 20 + d, sensor, span + d * day, span + d * day + timedelta(minutes=15 * 95))
        for i, sensor in enumerate(filled)
        for d in range(20)
    ]  # fmt: skip
    windows += [(10_000 + d, fresh, span + d * day, span + d * day + timedelta(minutes=15 * 95)) for d in range(20)]
    query, params = sql.stored_windows_query(sql.window_spans(windows))
    async with pool.connection() as conn:
        cur = await conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + query.as_bytes(conn), params)
        row = await cur.fetchone()
        assert row is not None
        read = _rows_read_from_beliefs(row[0][0]["Plan"])
        found = await sql.commands_over_stored_beliefs(conn, windows)
        await conn.rollback()
    assert found == {w[0] for w in windows if w[1] != fresh}
    assert read <= len(windows), f"the check read {read} beliefs for {len(windows)} windows"


async def test_pooled_connections_plan_each_run_with_its_values(settings: Settings, factory: Factory) -> None:
    """A statement run often enough is prepared (psycopg), and PostgreSQL may then plan it once without its values:
    TimescaleDB could not leave out the chunks outside the time bounds, and every run would pay for every chunk.
    The services' pools plan each run with its values (``shared/db.py``, ``PLAN_CACHE_MODE``)."""
    sensor = await factory.sensor(await factory.asset(await factory.account()))
    windows = [(0, sensor, START, START + timedelta(minutes=15 * 95))]
    async with db.open_pool(settings, name="plans") as pool, pool.connection() as conn:
        cur = await conn.execute("SHOW plan_cache_mode")
        assert await cur.fetchone() == ("force_custom_plan",)
        for _ in range(10):
            assert await sql.commands_over_stored_beliefs(conn, windows) == set()
            await conn.commit()  # (a rollback would make psycopg forget its prepared statements)
        cur = await conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ("%CROSS JOIN LATERAL%",),
        )
        plans = await cur.fetchall()
    assert plans, "the check was never prepared: this test shows nothing"
    assert all(generic == 0 and custom >= 5 for generic, custom in plans), plans


async def test_each_stored_command_is_announced_when_its_transaction_commits(
    factory: Factory, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """On ``channels.INGESTED``, at the commit and not before: a stored command with its event as it goes to
    Kafka, a dead-lettered one by its id alone (its letter is read from ``ingested_commands``)."""
    asset = await factory.asset(await factory.account())
    sensors = [await factory.sensor(asset), await factory.sensor(asset)]
    prior = START + timedelta(days=1)
    records = [record(post(s, [1.0, 2.0], prior), i) for i, s in enumerate(sensors)]
    records.append(record(post(2_000_000_000, [1.0], prior), 2))  # no such sensor: a dead letter
    url = settings.database_url.get_secret_value()
    async with await AsyncConnection.connect(url, autocommit=True) as listening:
        await listening.execute(f"LISTEN {channels.INGESTED}")
        async with pool.connection() as conn:
            async with conn.transaction():
                results = await handlers.ingest_batch(conn, records, max_values=10**6)
                assert not await _announced(listening, 0.3)  # nothing before the commit
            announced = await _announced(listening, 5.0, until=3)
    assert len(results.ingested) == 2 and len(results.dead) == 1
    assert [INGESTED.decode(payload.encode()) for payload in announced[:2]] == results.ingested
    assert announced[2] == str(results.dead[0].command_id)


async def _announced(conn: AsyncConnection[Any], timeout: float, until: int | None = None) -> list[str]:
    payloads: list[str] = []
    async for notification in conn.notifies(timeout=timeout, stop_after=until):
        payloads.append(notification.payload)
    return payloads
