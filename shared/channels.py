"""PostgreSQL's notification channels (``LISTEN``/``NOTIFY``): each name, who announces on it, and what its payload
is. A notification is delivered when the transaction that sent it commits, so what it announces is readable then."""

from __future__ import annotations

SCHEDULE_JOBS = "flexstream_schedule_jobs"
"""The id of a scheduling job that became finished or failed, announced by the trigger of
``migrations/0007_schedule_job_ends.sql``; each gateway's waiting schedule GETs take it
(``services/gateway/workers/job_ends.py``)."""

INGESTED = "flexstream_ingested"
"""Ingest, in the transaction that stored a batch: each stored command's ``BeliefsIngested`` event, the JSON that it
then produces to ``flexstream.ingested.v1``. Each gateway answers a POST waiting for that command with it
(``services/gateway/workers/write_waiter.py``), before the same event reaches it over Kafka."""

MAX_PAYLOAD_BYTES = 7999  # PostgreSQL refuses a longer payload; a longer event goes by Kafka only
