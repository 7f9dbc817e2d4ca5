"""The gateway's background workers, started in the lifespan (``app.py``) next to the HTTP server: the
read-your-writes waiter (a Kafka consumer) and the outbox relay (publishes the outbox table to Kafka)."""
