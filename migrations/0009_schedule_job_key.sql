-- The advisory-lock key of a scheduling job, from its id: the gateway holds it from inserting the job's row until
-- its transaction commits (after the broker has the trigger), and the scheduler takes it before it reads the row,
-- so a trigger that reaches the scheduler before the row is committed waits for exactly that commit
-- (docs/architecture.md, "Scheduler"). Seed 1 keeps these keys apart from those of request hashes (seed 0).

CREATE FUNCTION schedule_job_key(job uuid) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT hashtextextended(job::text, 1) $$;
