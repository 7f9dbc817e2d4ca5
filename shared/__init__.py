"""FlexStream's common package: settings, message models, topics, DB and Kafka helpers, units and time.

Nothing here depends on a service; every service depends on this package.
"""
