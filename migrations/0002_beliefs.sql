-- Timed beliefs (spec: model.md §5). One row per (sensor, event start, source, belief time, probability).
-- FlexStream stores the belief *time*; the belief horizon is derived from it and the sensor's knowledge
-- horizon when read (docs/architecture.md, "Storage"). A hypertable on event_start when TimescaleDB is
-- available, an ordinary table with the same primary key otherwise.

CREATE TABLE timed_beliefs (
    sensor_id              integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    event_start            timestamptz NOT NULL,
    source_id              integer NOT NULL REFERENCES data_sources (id),
    belief_time            timestamptz NOT NULL,
    cumulative_probability double precision NOT NULL DEFAULT 0.5,
    event_value            double precision NOT NULL,
    PRIMARY KEY (sensor_id, event_start, source_id, belief_time, cumulative_probability)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            -- e.g. installed but not in shared_preload_libraries: run as plain PostgreSQL.
            RAISE NOTICE 'timescaledb not usable (%), keeping timed_beliefs an ordinary table', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('timed_beliefs', 'event_start', chunk_time_interval => interval '30 days');
    END IF;
END
$$;
