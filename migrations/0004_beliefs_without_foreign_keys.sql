-- Belief writes without per-row foreign-key checks.
--
-- The two foreign keys of timed_beliefs cost about three quarters of a bulk COPY (bench: 105k rows/s with
-- them, 385k without). What they guaranteed is kept by other means:
-- * sensor_id: ingest reads the sensors of a batch with SELECT ... FOR KEY SHARE in the same transaction as
--   the write, so a sensor cannot be deleted under a batch; and deleting a sensor (directly, or through its
--   asset or account) deletes its beliefs in the trigger below, after the sensor row is gone, so a batch that
--   committed just before is deleted too.
-- * source_id: data sources are never deleted by FlexStream; ingest checks that a named source exists.

ALTER TABLE timed_beliefs DROP CONSTRAINT IF EXISTS timed_beliefs_sensor_id_fkey;
ALTER TABLE timed_beliefs DROP CONSTRAINT IF EXISTS timed_beliefs_source_id_fkey;

CREATE FUNCTION delete_sensor_beliefs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM timed_beliefs WHERE sensor_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sensors_delete_beliefs AFTER DELETE ON sensors
    FOR EACH ROW EXECUTE FUNCTION delete_sensor_beliefs();
