-- Scheduling jobs: what the worker and ingest record besides the status (docs/architecture.md, "Scheduler").

ALTER TABLE schedule_jobs
    ADD COLUMN belief_time    timestamptz,                    -- of the stored schedule (prior, or run time)
    ADD COLUMN time_limit_hit boolean NOT NULL DEFAULT false, -- finished with the best schedule found in time
    ADD COLUMN attempts       integer NOT NULL DEFAULT 0,     -- how often a worker started it
    ADD COLUMN fallback_of    uuid;                           -- set on a fallback job: the failed job it replaces

CREATE INDEX schedule_jobs_created_idx ON schedule_jobs (created_at);
