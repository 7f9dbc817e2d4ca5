"""PostgreSQL's notification channels (``LISTEN``/``NOTIFY``): each name, who announces on it, and what its payload
is. A notification is delivered when the transaction that sent it commits, so what it announces is readable then."""

from __future__ import annotations

SCHEDULE_JOBS = "flexstream_schedule_jobs"
"""The id of a scheduling job that became finished or failed, announced by the trigger of
``migrations/0007_schedule_job_ends.sql``; each gateway's waiting schedule GETs take it
(``services/gateway/workers/job_ends.py``)."""

INGESTED = "flexstream_ingested"
"""Ingest, in the transaction that finished a batch's commands: for each, the ``BeliefsIngested`` event, the JSON it
then produces to ``flexstream.ingested.v1``; or only the command's id, for a dead-lettered command and for an event
longer than ``MAX_PAYLOAD_BYTES``, whose result is then read from ``ingested_commands`` (``shared/command_results.py``).
Each gateway answers a POST waiting for that command with it (``services/gateway/workers/write_waiter.py``)."""

MAX_PAYLOAD_BYTES = 7999  # PostgreSQL refuses a longer payload
