-- Per-sensor, per-source aggregates kept by the stats service (docs/architecture.md, "Stats").
--
-- sensor_stats_daily holds one row per sensor, source and UTC day that has beliefs: everything the stats
-- route reports, for the beliefs whose event starts in that day. sensor_stats holds the same per sensor
-- and source over all time (kept equal to the sum of its days), so a stats request without a window
-- reads one row per source. The 0003 sensor_stats table never held data; it is replaced because it stored
-- event ends, which depend on the sensor's resolution at read time.
--
-- Both tables cascade with their sensor (a deleted sensor's beliefs go by trigger, migrations/0004), and
-- ingest empties both when it deletes a sensor's data.

DROP TABLE IF EXISTS sensor_stats;

CREATE TABLE sensor_stats_daily (
    sensor_id         integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    source_id         integer NOT NULL,
    bucket            timestamptz NOT NULL,   -- midnight UTC starting the day
    count             bigint NOT NULL,
    sum               numeric NOT NULL,       -- exact sum of the float values (rounded once, when read)
    min               double precision NOT NULL,
    max               double precision NOT NULL,
    first_event_start timestamptz NOT NULL,
    last_event_start  timestamptz NOT NULL,
    first_belief_time timestamptz NOT NULL,
    last_belief_time  timestamptz NOT NULL,
    PRIMARY KEY (sensor_id, bucket, source_id)
);

CREATE TABLE sensor_stats (
    sensor_id         integer NOT NULL REFERENCES sensors (id) ON DELETE CASCADE,
    source_id         integer NOT NULL,
    count             bigint NOT NULL,
    sum               numeric NOT NULL,
    min               double precision NOT NULL,
    max               double precision NOT NULL,
    first_event_start timestamptz NOT NULL,
    last_event_start  timestamptz NOT NULL,
    first_belief_time timestamptz NOT NULL,
    last_belief_time  timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, source_id)
);
