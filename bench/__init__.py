"""Benchmarks (``make bench``): real services as subprocesses against the provisioned Kafka and database."""
