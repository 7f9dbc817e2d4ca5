"""HTTP plumbing: FlexMeasures-shaped answers, reading request input, validation, guards, metrics, the OpenAPI
document, and sending commands to Kafka then answering once ingest has reported."""
