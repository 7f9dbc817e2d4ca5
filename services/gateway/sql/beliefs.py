"""Beliefs as the data routes read them. Selection and resampling happen here, in SQL.

Selection (FlexMeasures 0.27's; docs/api.md, "Reads"): filters (window, prior, horizon, source) → the most
recent belief per event and source (its probability rows collapsed to the median) → one value per event: the
source with the highest version, then the latest belief time, then the lowest source id. Then the values are
resampled to the output step: ``exact`` (same step: value of the event starting at the slot), ``downsample``
(mean of the events in the slot), ``upsample`` (each event's value copied into the slots it covers);
``rules/series_reads.py`` puts them on the grid. The belief horizon of a default (ex-post) sensor is event start
+ resolution - belief time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from services.gateway.rules.read_plan import Mode, ReadPlan

SELECT_HAS_TIMESCALE = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"


async def has_timescale(conn: AsyncConnection[Any]) -> bool:
    row = await (await conn.execute(SELECT_HAS_TIMESCALE)).fetchone()
    return bool(row and row[0])


# --- reading a series (docs/api.md "Reads") ------------------------------------------------------------
#
# Two plans answer the same question. Both end in rows (offset, value, multi): ``offset`` is a slot's start
# minus the window start in microseconds (NULL for an upsampled event that covers no slot), so Python puts
# the values on the grid (``rules/read_plan.place_on_grid``) without parsing timestamps or joining a
# generate_series. A result with any row means some belief matched ("found"). ``_COMPACT`` folds the rows
# into one row of arrays.
#
# * The fast plan is exact when every event in the window has exactly one candidate belief (one source, one
#   belief time, one probability row): then that row is the event's value and nothing needs ranking. Each
#   row says, in ``multi``, whether some event behind it had more than one candidate; if any does, the
#   answer is thrown away and the general plan runs. Both benchmark reads (a year posted at once or day by
#   day) take the fast plan.
# * The general plan applies every rule: latest belief per (event, source), the median of its probability
#   rows, then the source with the highest version (each source's version is parsed once, in ``ranks``),
#   then the latest belief time, then the lowest source id.

CANDIDATES = """candidates AS (
    SELECT event_start, source_id, belief_time, cumulative_probability, event_value
    FROM timed_beliefs
    WHERE sensor_id = %(sensor_id)s::integer AND event_start >= %(lo)s AND event_start <= %(hi)s
      AND (%(prior)s::timestamptz IS NULL OR belief_time <= %(prior)s::timestamptz)
      AND (%(min_horizon)s::interval IS NULL
           OR event_start + %(resolution)s::interval - belief_time >= %(min_horizon)s::interval)
      AND (%(max_horizon)s::interval IS NULL
           OR event_start + %(resolution)s::interval - belief_time <= %(max_horizon)s::interval)
      AND (%(source_id)s::integer IS NULL OR source_id = %(source_id)s::integer)
)"""

# Every (event, source, belief time) is collapsed to its median, then per event the first in the order
# (version DESC, belief time DESC, source id) wins. That is FlexMeasures' "latest belief per (event, source),
# then the best source": the winner's row beats every older belief of its own source on belief time, so the
# winning group is always its source's latest one.
GENERAL_CHOSEN = """medians AS (
    SELECT event_start, source_id, belief_time,
           coalesce(avg(event_value) FILTER (WHERE cumulative_probability = 0.5), avg(event_value)) AS event_value
    FROM candidates GROUP BY event_start, source_id, belief_time
), ranks AS MATERIALIZED (  -- each source's version parsed once, not once per row
    SELECT ds.id AS source_id,
           ARRAY(SELECT part::integer FROM unnest(string_to_array(coalesce(ds.version, ''), '.')) AS part
                 WHERE part ~ '^[0-9]+$' AND length(part) < 10) AS version
    FROM data_sources ds WHERE ds.id IN (SELECT DISTINCT source_id FROM medians)
), chosen AS (
    SELECT DISTINCT ON (m.event_start) m.event_start, m.event_value, false AS multi
    FROM medians m JOIN ranks r USING (source_id)
    ORDER BY m.event_start, r.version DESC, m.belief_time DESC, m.source_id
)"""

# Only right when no event has two candidates, which ``multi`` reports.
FAST_CHOSEN = """chosen AS (
    SELECT event_start, min(event_value) AS event_value, count(*) > 1 AS multi FROM candidates GROUP BY event_start
)"""

_OFFSET = "(extract(epoch FROM {slot} - %(start)s::timestamptz) * 1000000)::bigint"

EXACT = f"SELECT {_OFFSET.format(slot='event_start')}, event_value, multi FROM chosen"

_BUCKET = "{bucket}(%(step)s::interval, event_start, %(start)s::timestamptz)"

DOWNSAMPLE = f"SELECT {_OFFSET.format(slot=_BUCKET)}, avg(event_value), bool_or(multi) FROM chosen GROUP BY {_BUCKET}"

# The fast plan's downsample needs no per-event step: with one row per event, the mean of the rows in a slot
# is the mean of its events, and an event with two rows shows as fewer distinct starts than rows.
FAST_DOWNSAMPLE = f"""SELECT {_OFFSET.format(slot=_BUCKET)}, avg(event_value), count(*) <> count(DISTINCT event_start)
FROM candidates GROUP BY {_BUCKET}"""

# Each event covers the grid slots from the first one at or after its start up to its end; a slot covered
# by several events takes the latest-starting one. An event covering no slot still gives a row (found).
UPSAMPLE = f"""SELECT DISTINCT ON (slot) {_OFFSET.format(slot="slot")}, event_value, multi FROM (
    SELECT s.slot, c.event_start, c.event_value, c.multi
    FROM chosen c LEFT JOIN LATERAL generate_series(
        %(start)s::timestamptz + ceil(extract(epoch FROM c.event_start - %(start)s::timestamptz)
                                       / extract(epoch FROM %(step)s::interval)) * %(step)s::interval,
        c.event_start + %(resolution)s::interval - interval '1 microsecond',
        %(step)s::interval) AS s(slot) ON true
) covered
ORDER BY slot, event_start DESC"""

_RESAMPLED = {"exact": EXACT, "downsample": DOWNSAMPLE, "upsample": UPSAMPLE}


def series_query(mode: Mode, timescale: bool, *, fast: bool = False) -> sql.Composed:
    """The read for ``mode``; ``fast`` gives the plan that is exact only when no row has ``multi`` set."""
    bucket = sql.Identifier("time_bucket" if timescale else "date_bin")
    if fast and mode == "downsample":
        ctes, tail = [CANDIDATES], FAST_DOWNSAMPLE
    else:
        ctes, tail = [CANDIDATES, FAST_CHOSEN if fast else GENERAL_CHOSEN], _RESAMPLED[mode]
    return sql.SQL("WITH " + ", ".join(ctes) + "\n" + _COMPACT.format(tail=tail)).format(bucket=bucket)


# One row for the whole answer, in binary: two arrays load far faster than thousands of rows.
_COMPACT = """SELECT count(*), coalesce(bool_or(multi), false),
       array_agg(slot_offset) FILTER (WHERE slot_offset IS NOT NULL),
       array_agg(event_value) FILTER (WHERE slot_offset IS NOT NULL)
FROM ({tail}) AS r (slot_offset, event_value, multi)"""


@dataclass(frozen=True)
class SeriesRows:
    found: bool  # some belief matched (even if none lands on the grid)
    multi: bool  # the fast plan met an event with several candidates: its answer does not count
    offsets: list[int]  # microseconds from the window start
    values: list[float]


async def fetch_series(conn: AsyncConnection[Any], plan: ReadPlan, *, timescale: bool, fast: bool) -> SeriesRows:
    """One read of the series in ``plan``: the fast plan (``fast``) or the general one."""
    cur = conn.cursor(binary=True)
    await cur.execute(series_query(plan.mode, timescale, fast=fast), plan.params())
    row = await cur.fetchone()
    assert row is not None
    return SeriesRows(row[0] > 0, bool(row[1]), row[2] or [], row[3] or [])
