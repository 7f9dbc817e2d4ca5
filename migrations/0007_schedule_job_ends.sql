-- A scheduling job's end (finished or failed) is announced on the channel flexstream_schedule_jobs, with the job's
-- id, when the transaction that ended it commits: a gateway answering a GET of a job that has not ended yet waits
-- for this instead of answering at once (docs/architecture.md, "Gateway"). Whichever path ends a job (ingest
-- storing its schedule, the scheduler failing it, an expired job), the announcement comes from here.

CREATE FUNCTION announce_schedule_job_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flexstream_schedule_jobs', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER schedule_job_ended
    AFTER UPDATE OF status ON schedule_jobs
    FOR EACH ROW
    WHEN (NEW.status IN ('finished', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION announce_schedule_job_end();
