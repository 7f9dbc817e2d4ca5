-- How far ingest has stored each partition it reads: the offset after the last record it finished (stored, or
-- dead-lettered), written in the transaction that finished it. A scheduling job waits until this reaches the marks
-- its trigger carries before it reads any series (docs/architecture.md, "Scheduler"). Ingest's Kafka offset
-- commits, which say where a restarted consumer resumes, follow later and are not read for this.

CREATE TABLE ingest_progress (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
