-- What ingest did with each command (so a replayed command answers the same), schedule jobs,
-- per-sensor per-source aggregates kept by the stats service, and the gateway's outbox.

CREATE TABLE ingested_commands (
    command_id  uuid PRIMARY KEY,
    sensor_id   integer NOT NULL,
    result      jsonb NOT NULL,          -- the BeliefsIngested event that was emitted
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingested_commands_time_idx ON ingested_commands (ingested_at);

CREATE TABLE schedule_jobs (
    id             uuid PRIMARY KEY,
    sensor_id      integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    status         varchar(16) NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'started', 'finished', 'failed', 'deferred')),
    request        jsonb NOT NULL,
    request_hash   bytea,
    scheduler      varchar(80),
    data_source_id integer REFERENCES data_sources (id),
    error_class    text,
    error_message  text,
    fallback_job_id uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX schedule_jobs_hash_idx ON schedule_jobs (request_hash, created_at);

CREATE TABLE sensor_stats (
    sensor_id         integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    source_id         integer NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    count             bigint NOT NULL DEFAULT 0,
    sum               double precision,
    min               double precision,
    max               double precision,
    first_event_start timestamptz,
    last_event_end    timestamptz,
    last_recorded     timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, source_id)
);

-- Transactional outbox: rows written in the same transaction as a metadata change, published to
-- Kafka by the gateway's drainer afterwards (so a change event is never lost when Kafka is down).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
