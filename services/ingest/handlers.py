"""From a batch of Kafka records to stored beliefs, ``ingested`` events and dead letters.

``ingest_batch`` runs in one database transaction (the caller's, or on a connection in autocommit mode its own),
then the caller produces the returned messages and commits the Kafka offsets. The rules themselves are pure
functions: ``decode``, ``plan_rounds`` and ``shared.beliefs.rows_for``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import numpy as np
import psycopg
from aiokafka.structs import ConsumerRecord, TopicPartition
from psycopg import AsyncConnection
from pydantic import ValidationError

from services.ingest import sql, trust
from services.ingest.copy_format import belief_rows, staging_rows
from services.ingest.pg_arrays import Float8Array, Int4Array, TimestamptzArray
from services.ingest.trust import TopicTrust
from shared import channels, command_results, db
from shared.beliefs import BeliefRows, SensorInfo, rows_for
from shared.errors import FlexStreamError, MalformedMessage, UnknownSensor, UnknownSource, Unstorable
from shared.messages import (
    BeliefsIngested,
    DataCommand,
    DeadLetter,
    DeleteSensorData,
    PostBeliefs,
    PostSensorData,
    ValueSummary,
    utcnow,
)
from shared.topics import INGESTED, SENSOR_DATA

logger = logging.getLogger(__name__)

# Commands whose producer left out ``command_id`` get one derived from their record's position, so a record
# replayed after a crash is recognised as the same command.
RECORD_NAMESPACE = UUID("5b0f3c2e-6f1e-4a8e-9f6d-2f3b8e1c7a10")
MAX_ORIGINAL_BYTES = 1024 * 1024  # of a record's value kept in its dead letter
GATEWAY_ONLY = TopicTrust()  # no prefix: in tests that call ``ingest_batch`` directly, every topic is the gateway's
MAX_ERROR_TEXT = 500  # characters of a database error kept in an ``unstorable`` dead letter
# Beliefs for empty windows that a batch inserts with its COMMIT, in the same round trip, rather than by COPY: a
# few days of values (docs/performance.md, finding 31).
INSERT_MAX_ROWS = 1000

# What a record can make the write raise although every check before it passed (a database data error, an
# overflow): ingest isolates such a record and dead-letters it (``unstorable``) instead of crashing on it.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    ValueError,
    ArithmeticError,
    RecursionError,
)


@dataclass
class Results:
    """What a batch produced, to be sent after the database commit; ``encoded``: the events' JSON by command id,
    encoded once for the done-commands row, the announcement and the Kafka message."""

    ingested: list[BeliefsIngested] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    encoded: dict[UUID, bytes] = field(default_factory=dict)

    def __add__(self, other: Results) -> Results:
        return Results(self.ingested + other.ingested, self.dead + other.dead, self.encoded | other.encoded)

    def payload(self, event: BeliefsIngested) -> bytes:
        """The event as it goes to Kafka."""
        return self.encoded.get(event.command_id) or INGESTED.encode(event)


@dataclass
class _Item:
    record: ConsumerRecord[bytes, bytes]
    command: DataCommand
    rows: BeliefRows | None = None
    source_id: int | None = None
    sensor: SensorInfo | None = None
    account_id: int | None = None  # the account of the device topic it came from; None: the gateway's topic
    hint: tuple[datetime, datetime] | None = None  # its window as checked with the look-ups (``early_windows``)
    hint_stored: bool = False  # whether that check found stored beliefs in it


def dead_letter(
    record: ConsumerRecord[bytes, bytes], error: FlexStreamError, command: DataCommand | None = None
) -> DeadLetter:
    value = record.value or b""
    detail = str(error)
    if len(value) > MAX_ORIGINAL_BYTES:  # the letter must fit in a Kafka message; the full value stays on the topic
        detail += f" (original truncated to its first {MAX_ORIGINAL_BYTES} of {len(value)} bytes)"
        value = value[:MAX_ORIGINAL_BYTES]
    return DeadLetter(
        reason=error.reason,
        detail=detail,
        original=value.decode("utf-8", errors="replace"),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        command_id=command.command_id if command else None,
        sensor_id=command.sensor_id if command else _key_sensor(record),
    )


def _key_sensor(record: ConsumerRecord[bytes, bytes]) -> int | None:
    try:
        return int(record.key or b"")
    except ValueError:
        return None


def decode(record: ConsumerRecord[bytes, bytes]) -> DataCommand:
    return with_record_defaults(parse(record), record)


def parse(record: ConsumerRecord[bytes, bytes]) -> DataCommand:
    """The command as its producer wrote it (``model_fields_set`` is what it sent)."""
    try:
        return SENSOR_DATA.decode(record.value)
    except ValidationError as exc:
        raise MalformedMessage(_validation_text(exc)) from None


def with_record_defaults(command: DataCommand, record: ConsumerRecord[bytes, bytes]) -> DataCommand:
    """Fill in what a device producer may leave out from the record itself: ``command_id`` from the record's
    position and ``recorded_at`` from its timestamp. Decoding the same record twice gives the same command."""
    update: dict[str, Any] = {}
    if "command_id" not in command.model_fields_set:
        update["command_id"] = record_command_id(record)
    if "recorded_at" not in command.model_fields_set and record.timestamp is not None and record.timestamp >= 0:
        update["recorded_at"] = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return command.model_copy(update=update) if update else command


def record_command_id(record: ConsumerRecord[bytes, bytes]) -> UUID:
    """The command id of a record whose producer gave none (or, on a device topic, may not give one)."""
    return uuid5(RECORD_NAMESPACE, f"{record.topic}/{record.partition}/{record.offset}")


def _validation_text(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)


def window(item: _Item) -> tuple[np.datetime64, np.datetime64] | None:
    """The event starts a command touches (it has at least one row); None means 'everything' (a deletion)."""
    if isinstance(item.command, DeleteSensorData):
        return None
    assert item.rows is not None
    return item.rows.event_starts.min(), item.rows.event_starts.max()


def window_hint(command: DataCommand) -> tuple[datetime, datetime] | None:
    """The first and last instant that can be an event start of the command's rows, known before its sensor is:
    a series places its events in [start, start + duration), explicit beliefs at their own starts. None for a
    deletion, or where the bounds overflow (the rules refuse such a command later). A sensor's ``frequency``
    attribute may move a series' start before these bounds: ``_copy_into_empty_windows`` checks that."""
    try:
        if isinstance(command, PostBeliefs):
            return min(command.event_starts), max(command.event_starts)
        if isinstance(command, PostSensorData):
            return command.start, max(command.start, command.start + command.duration - timedelta(microseconds=1))
    except OverflowError:
        pass
    return None


def early_windows(items: Sequence[_Item]) -> list[tuple[int, int, datetime, datetime]]:
    """The windows (index, sensor id, first, last) to check for stored beliefs together with the batch's look-ups,
    one round trip before the sensors are known, and ``hint`` set on each of those items.

    Only for a batch without a deletion (which writes before its round's COPY): the savepoint set with the check
    must precede nothing but that COPY, as when the check runs just before it. A source a command names that does
    not exist yet is created after the check; ``ingest_batch`` then sets the savepoint again."""
    if any(isinstance(item.command, DeleteSensorData) for item in items):
        return []
    windows = []
    for k, item in enumerate(items):
        item.hint = window_hint(item.command)
        # a sensor id beyond the column's range names no sensor (dead-lettered as unknown): nothing to check
        if item.hint is not None and db.is_db_id(item.command.sensor_id):
            windows.append((k, item.command.sensor_id, *item.hint))
    return windows


def plan_rounds(keys: Sequence[tuple[int, tuple[Any, Any] | None]]) -> list[int]:
    """Assign each command (sensor id, event window or None) a round number so that commands on the same
    sensor with overlapping windows run in arrival order, while everything else shares a round."""
    rounds: list[int] = []
    earlier: dict[int, list[tuple[tuple[Any, Any] | None, int]]] = {}
    for sensor_id, span in keys:
        after = -1
        for other_span, other_round in earlier.get(sensor_id, ()):
            if span is None or other_span is None or (span[0] <= other_span[1] and other_span[0] <= span[1]):
                after = max(after, other_round)
        rounds.append(after + 1)
        earlier.setdefault(sensor_id, []).append((span, after + 1))
    return rounds


async def ingest_batch(
    conn: AsyncConnection[Any],
    records: Sequence[ConsumerRecord[bytes, bytes]],
    *,
    max_values: int,
    topics: TopicTrust = GATEWAY_ONLY,
) -> Results:
    """``topics`` tells device topics (device rules, ``trust.py``) from the gateway's (its commands as they are).

    On a connection in autocommit mode (``db.own_transaction``) the batch sends its own ``BEGIN``, with its first
    look-ups, and ``COMMIT``, with the command results: two round trips fewer than the caller's transaction."""
    own = conn.autocommit
    results = Results()
    items: list[_Item] = []
    for record in records:
        try:
            command = parse(record)
        except MalformedMessage as exc:
            results.dead.append(dead_letter(record, exc))
            continue
        item = _Item(record, with_record_defaults(command, record), account_id=topics.device_account(record.topic))
        try:
            if item.account_id is not None:
                item.command = item.command.model_copy(update={"command_id": record_command_id(record)})
                trust.check_command(command, topics)
        except FlexStreamError as exc:
            results.dead.append(dead_letter(record, exc, item.command))
            continue
        items.append(item)

    posts = [item.command for item in items if not isinstance(item.command, DeleteSensorData)]
    windows = early_windows(items)
    context = await sql.load_context(
        conn,
        [item.command.command_id for item in items],
        sensor_ids=[item.command.sensor_id for item in items],
        device_sensor_ids=[item.command.sensor_id for item in items if item.account_id is not None],
        source_ids=[post.source_id for post in posts if post.source_id],
        source_names=[name for item in items if (name := _named_source(item)) is not None],
        begin=own,
        windows=windows,
    )
    for k, item in enumerate(items):
        item.hint_stored = k in context.stored
    # A command seen before (replayed after a crash, or produced twice) answers what it answered then.
    done = context.done
    first_seen: list[_Item] = []
    seen: set[UUID] = set()
    for item in items:
        command_id = item.command.command_id
        if command_id in done:
            _replay(done[command_id], results)
        elif command_id not in seen:
            seen.add(command_id)
            first_seen.append(item)

    device_sources = dict(context.named_sources)
    ready: list[_Item] = []
    for item in first_seen:
        try:
            await _prepare(conn, item, context, device_sources, max_values)
        except FlexStreamError as exc:
            results.dead.append(dead_letter(item.record, exc, item.command))
            continue
        if item.rows is not None and not len(item.rows):  # nothing to save (e.g. all values null): no round needed
            results.ingested.append(_event(item, "already_received"))
            continue
        ready.append(item)
    if windows and len(device_sources) > len(context.named_sources):  # sources created since the check's savepoint
        await sql.set_savepoint_before_copy(conn)

    rounds = plan_rounds([(item.command.sensor_id, window(item)) for item in ready])
    last = max(rounds, default=-1)
    with_commit: list[_Item] = []  # written by the statements that end the batch (own transaction, last round)
    for number in range(last + 1):
        batch = [item for item, r in zip(ready, rounds, strict=True) if r == number]
        deferred = with_commit if own and number == last else None
        results.ingested.extend(await _run_round(conn, batch, first=number == 0, with_commit=deferred))

    try:
        await _record(conn, results, progress(records), commit=own, beliefs=with_commit)
    except psycopg.errors.UniqueViolation:
        if not with_commit:
            raise
        # A concurrent writer's beliefs appeared in one of their windows since the check: nothing of the final
        # round trip has run; back to the savepoint, and those commands go the comparing way.
        await sql.rollback_to_before_copy(conn)
        logger.info("beliefs appeared in a window meanwhile; comparing instead", extra={"commands": len(with_commit)})
        compared = await _compare_and_write(conn, list(enumerate(with_commit)))
        again = {with_commit[idx].command.command_id: event for idx, event in compared.items()}
        results.ingested = [again.get(e.command_id, e) for e in results.ingested]
        await _record(conn, results, progress(records), commit=own, beliefs=[])
    return results


async def _record(
    conn: AsyncConnection[Any], results: Results, done: sql.Progress, *, commit: bool, beliefs: list[_Item]
) -> None:
    """The batch's last round trip: ``beliefs`` of commands bound for empty windows, the command results, how far
    the batch's partitions are ``done``, the announcements, and with ``commit`` the ``COMMIT``."""
    results.encoded = {e.command_id: INGESTED.encode(e) for e in results.ingested}
    await sql.record_done_commands(
        conn,
        [(e.command_id, e.sensor_id, command_results.of_event(results.encoded[e.command_id])) for e in results.ingested]
        + [_done_letter(d) for d in results.dead if d.command_id],
        commit=commit,
        announce=announcements(results),
        beliefs=_belief_arrays(beliefs) if beliefs else None,
        progress=done,
    )


def announcements(results: Results) -> list[str]:
    """What PostgreSQL announces at commit for the batch's finished commands (``shared/channels.py``): each event
    as it goes to Kafka; only the command's id for an event longer than a notification can carry and for a dead
    letter (whose original may be as long as its command): its waiting write reads its result instead."""
    said = [
        payload.decode() if len(payload) <= channels.MAX_PAYLOAD_BYTES else str(command_id)
        for command_id, payload in results.encoded.items()
    ]
    return said + [str(letter.command_id) for letter in results.dead if letter.command_id]


def _done_letter(letter: DeadLetter) -> tuple[UUID, int, str]:
    assert letter.command_id is not None
    return letter.command_id, _db_int(letter.sensor_id), command_results.of_letter(letter)


async def record_unstorable(
    conn: AsyncConnection[Any],
    record: ConsumerRecord[bytes, bytes],
    error: BaseException,
    topics: TopicTrust = GATEWAY_ONLY,
) -> Results:
    """The dead letter of a record whose write failed on its own (see ``RECORD_ERRORS``), remembered like any
    other so that a replay re-sends it."""
    text = f"{type(error).__name__}: {error}"
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    try:
        command: DataCommand | None = decode(record)
    except MalformedMessage:
        command = None
    if command is not None and topics.device_account(record.topic) is not None:  # as ``ingest_batch`` names it
        command = command.model_copy(update={"command_id": record_command_id(record)})
    letter = dead_letter(record, Unstorable(f"The record could not be stored: {text}"), command)
    finished = [_done_letter(letter)] if letter.command_id is not None else []
    await sql.record_done_commands(
        conn, finished, announce=[str(command_id) for command_id, _, _ in finished], progress=progress([record])
    )
    return Results(dead=[letter])


def _db_int(sensor_id: int | None) -> int:
    """A dead letter's sensor id as the ``integer`` column can hold it (0 when absent or out of range)."""
    return sensor_id if sensor_id is not None and db.is_db_id(sensor_id) else 0


def _replay(stored: dict[str, Any], results: Results) -> None:
    match command_results.outcome(stored):
        case BeliefsIngested() as event:
            results.ingested.append(event)
        case DeadLetter() as letter:
            results.dead.append(letter)
        case None:
            pass


def _named_source(item: _Item) -> str | None:
    """The name of the device source the command is recorded under (``_prepare``), if it names one."""
    if isinstance(item.command, DeleteSensorData):
        return None
    if item.account_id is not None:
        return trust.device_source_name(item.account_id)
    return item.command.source_name if item.command.source_id is None else None


async def _prepare(
    conn: AsyncConnection[Any],
    item: _Item,
    context: sql.BatchContext,
    device_sources: dict[str, int],
    max_values: int,
) -> None:
    command = item.command
    sensor = context.sensors.get(command.sensor_id)
    if sensor is None:
        raise UnknownSensor(command.sensor_id)
    if item.account_id is not None:
        trust.check_sensor(item.account_id, command.sensor_id, context.owners.get(command.sensor_id))
    item.sensor = sensor
    if isinstance(command, DeleteSensorData):
        return
    if item.account_id is not None:
        name = trust.device_source_name(item.account_id)
        if name not in device_sources:
            device_sources[name] = await sql.device_source_id(conn, name)
        item.source_id = device_sources[name]
        item.rows = rows_for(command, sensor, max_values=max_values)
        trust.check_belief_times(
            item.rows, sensor.event_resolution, trust.received_at(item.record), prior=command.prior
        )
        return
    if command.source_id is not None:
        if command.source_id not in context.sources:
            raise UnknownSource(f"Data source {command.source_id} does not exist.")
        item.source_id = command.source_id
    else:
        if command.source_name not in device_sources:
            device_sources[command.source_name] = await sql.device_source_id(conn, command.source_name)
        item.source_id = device_sources[command.source_name]
    item.rows = rows_for(command, sensor, max_values=max_values)


async def _run_round(
    conn: AsyncConnection[Any], batch: list[_Item], *, first: bool, with_commit: list[_Item] | None = None
) -> list[BeliefsIngested]:
    """Deletions, then posts: straight into the table where nothing is stored yet in a command's window (live
    data), the staging table and its comparison with stored beliefs where something is (corrections, repeats).
    Only the ``first`` round may use the check made with the look-ups (a later one runs after writes). Given
    ``with_commit``, a round whose straight writes are small leaves them there for the batch's last round trip."""
    events: dict[int, BeliefsIngested] = {}
    for idx, item in enumerate(batch):
        if isinstance(item.command, DeleteSensorData):
            deleted = await sql.delete_beliefs(conn, item.command.sensor_id)
            events[idx] = _event(item, "deleted", rows_replaced=deleted)
    posts = [(idx, item) for idx, item in enumerate(batch) if item.rows is not None]
    for idx, item in posts:
        if item.rows is not None and not len(item.rows):
            events[idx] = _event(item, "already_received")  # nothing to save (e.g. every value null)
    posts = [(idx, item) for idx, item in posts if idx not in events]
    copied = await _copy_into_empty_windows(conn, posts, early=first, with_commit=with_commit)
    for idx, item in copied:
        events[idx] = _copied_event(item)
    taken = {idx for idx, _ in copied}
    events.update(await _compare_and_write(conn, [(idx, item) for idx, item in posts if idx not in taken]))
    return [events[idx] for idx in sorted(events)]


async def _copy_into_empty_windows(
    conn: AsyncConnection[Any], posts: list[tuple[int, _Item]], *, early: bool, with_commit: list[_Item] | None
) -> list[tuple[int, _Item]]:
    """COPY the commands whose event window holds no stored belief of their sensor straight into the table, or,
    with ``with_commit`` and at most ``INSERT_MAX_ROWS`` rows, add them to it instead: the batch inserts them in
    its last round trip. With ``early``, a command whose window lies within the one checked with the look-ups
    takes that answer; the others are checked now (beliefs found in the wider window send a command the comparing
    way: still right)."""
    windows = []
    stored = set()
    for idx, item in posts:
        assert item.rows is not None
        starts = item.rows.event_starts
        first, last = _utc(starts.min()), _utc(starts.max())
        if early and item.hint is not None and item.hint[0] <= first and last <= item.hint[1]:
            if item.hint_stored:
                stored.add(idx)
        else:
            windows.append((idx, item.command.sensor_id, first, last))
    stored |= await sql.commands_over_stored_beliefs(conn, windows)
    empty = [(idx, item) for idx, item in posts if idx not in stored]
    if not empty:
        return []
    if with_commit is not None and sum(len(_rows(item)) for _, item in empty) <= INSERT_MAX_ROWS:
        with_commit.extend(item for _, item in empty)
        return empty
    try:
        await sql.copy_beliefs(conn, (_belief_rows(item) for _, item in empty))
    except psycopg.errors.UniqueViolation:  # a concurrent writer to the same keys: back to the savepoint
        await sql.rollback_to_before_copy(conn)
        logger.info("beliefs appeared in a window meanwhile; comparing instead", extra={"commands": len(empty)})
        return []
    return empty


def _belief_rows(item: _Item) -> bytes:
    rows = _rows(item)
    return belief_rows(item.command.sensor_id, item.source_id or 0, rows.event_starts, rows.belief_times, rows.values)


def _belief_arrays(items: list[_Item]) -> sql.BeliefArrays:
    rows = [_rows(item) for item in items]
    counts = [len(r) for r in rows]
    return sql.BeliefArrays(
        sensor_ids=Int4Array.of(np.repeat([item.command.sensor_id for item in items], counts)),
        event_starts=TimestamptzArray.of(np.concatenate([r.event_starts for r in rows])),
        source_ids=Int4Array.of(np.repeat([item.source_id or 0 for item in items], counts)),
        belief_times=TimestamptzArray.of(np.concatenate([r.belief_times for r in rows])),
        values=Float8Array.of(np.concatenate([r.values for r in rows])),
    )


def _rows(item: _Item) -> BeliefRows:
    assert item.rows is not None
    return item.rows


def _copied_event(item: _Item) -> BeliefsIngested:
    rows, resolution = _rows(item), _sensor(item).event_resolution
    summary = ValueSummary(
        count=len(rows), min=float(rows.values.min()), max=float(rows.values.max()), sum=float(rows.values.sum())
    )
    return _event(
        item, "processed", rows_written=len(rows), summary=summary, event_start=_utc(rows.event_starts.min()),
        event_end=_utc(rows.event_starts.max()) + resolution,
    )  # fmt: skip


async def _compare_and_write(conn: AsyncConnection[Any], posts: list[tuple[int, _Item]]) -> dict[int, BeliefsIngested]:
    """Stage, compare with what is stored (unchanged beliefs skipped, replacements found), write the rest."""
    if not posts:
        return {}
    events: dict[int, BeliefsIngested] = {}
    await sql.stage(
        conn,
        (
            staging_rows(idx, item.command.sensor_id, item.source_id or 0, _sensor(item).event_resolution,
                         item.rows.event_starts, item.rows.belief_times, item.rows.values)
            for idx, item in posts
            if item.rows is not None
        ),
    )  # fmt: skip
    staged = await _classify(conn, posts)
    rejected = [
        idx for idx, item in posts if idx in staged and staged[idx].replacements and not _may_replace(item.command)
    ]
    await sql.write(conn, rejected)
    for idx, item in posts:
        assert item.rows is not None
        s = staged.get(idx)
        if idx in rejected:
            events[idx] = _event(item, "replacement_rejected", rows_skipped=len(item.rows))
        elif s is None or s.inserts + s.replacements == 0:
            events[idx] = _event(item, "already_received", rows_skipped=s.unchanged if s else 0)
        else:
            events[idx] = _event(
                item,
                "already_received" if s.unchanged else "processed",
                rows_written=s.inserts,
                rows_replaced=s.replacements,
                rows_skipped=s.unchanged,
                summary=ValueSummary(count=s.inserts + s.replacements, min=s.min, max=s.max, sum=s.sum),
                event_start=s.first_start,
                event_end=s.last_end,
            )
    return events


async def _classify(conn: AsyncConnection[Any], posts: list[tuple[int, _Item]]) -> dict[int, sql.Staged]:
    """What each staged command would change, looking only at the round's sensors and event window."""
    rows = [item.rows for _, item in posts if item.rows is not None and len(item.rows)]
    if not rows:
        return {}
    first = min(r.event_starts.min() for r in rows)
    last = max(r.event_starts.max() for r in rows)
    sensor_ids = sorted({item.command.sensor_id for _, item in posts})
    return await sql.classify(conn, sensor_ids, _utc(first), _utc(last))


def _utc(instant: np.datetime64) -> datetime:
    value: datetime = instant.astype("datetime64[us]").item()
    return value.replace(tzinfo=UTC)


def _may_replace(command: DataCommand) -> bool:
    return isinstance(command, PostSensorData | PostBeliefs) and command.replace


def _sensor(item: _Item) -> SensorInfo:
    assert item.sensor is not None
    return item.sensor


def _event(
    item: _Item,
    outcome: str,
    *,
    rows_written: int = 0,
    rows_replaced: int = 0,
    rows_skipped: int = 0,
    summary: ValueSummary | None = None,
    event_start: datetime | None = None,
    event_end: datetime | None = None,
) -> BeliefsIngested:
    return BeliefsIngested.model_validate(
        {
            "command_id": item.command.command_id,
            "sensor_id": item.command.sensor_id,
            "source_id": item.source_id,
            "outcome": outcome,
            "rows_written": rows_written,
            "rows_replaced": rows_replaced,
            "rows_skipped": rows_skipped,
            "summary": summary or ValueSummary(count=0),
            "event_start": event_start,
            "event_end": event_end,
            "recorded_at": utcnow(),
        }
    )


def next_offsets(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[TopicPartition, int]:
    """The offsets to commit once ``records`` are stored: one past the last record of each partition."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def progress(records: Sequence[ConsumerRecord[bytes, bytes]]) -> sql.Progress:
    """How far ``records`` take their partitions once they are finished (``ingest_progress``), in the order of
    the partitions, so that two batches never lock two rows in opposite orders."""
    return sorted((tp.topic, tp.partition, offset) for tp, offset in next_offsets(records).items())
