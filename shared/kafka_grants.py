"""Who may do what on the broker: the ACLs of each service's principal and of a device credential, as data.

Pure: ``shared/kafka_admin.py`` sends them to the broker. The layout (docs/architecture.md, "Trust boundary"):
the gateway alone writes the command topic; ingest reads it and every device topic whose account has a
credential, and writes events and dead letters; a device writes its account's device topic and reads its
account's schedules topic, nothing else. Every name carries the deployment's topic prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from shared.topics import (
    ALL_TOPICS,
    DEVICE_DATA,
    DEVICE_SCHEDULES,
    INGESTED,
    SCHEDULE_TRIGGERS,
    SCHEDULES,
    SENSOR_DATA,
    SENSOR_DATA_DLQ,
    SENSOR_EVENTS,
)

SERVICES = ("gateway", "ingest", "scheduler", "stats")


class Resource(IntEnum):
    """Kafka's ``ResourceType`` codes."""

    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    """Kafka's ``PatternType`` codes."""

    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ``AclOperation`` codes (the ones FlexStream grants)."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL, from any host."""

    principal: str  # "User:<name>"
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


def user(name: str) -> str:
    return f"User:{name}"


def _topic(principal: str, name: str, *operations: Operation, pattern: Pattern = Pattern.LITERAL) -> list[Grant]:
    return [Grant(principal, Resource.TOPIC, name, pattern, op) for op in operations]


def _group(principal: str, prefix: str, operation: Operation = Operation.READ) -> list[Grant]:
    """Consumer groups whose id starts with ``prefix`` (the group ids carry the topic prefix, and may be renamed
    by their settings as long as they keep this start). READ: join the group and commit its offsets."""
    return [Grant(principal, Resource.GROUP, prefix, Pattern.PREFIXED, operation)]


def service_grants(prefix: str, usernames: dict[str, str] | None = None) -> list[Grant]:
    """Every service's ACLs. Each service creates the shared topics at start (``kafka.ensure_topics``), so each
    may CREATE and DESCRIBE those; reading and writing are as narrow as the service's work.
    ``usernames`` maps a service to its principal's name (default: the service's name)."""
    names = {service: service for service in SERVICES} | (usernames or {})
    gateway, ingest, scheduler, stats = (user(names[s]) for s in SERVICES)
    grants: list[Grant] = []
    for principal in (gateway, ingest, scheduler, stats):
        for topic in ALL_TOPICS:
            grants += _topic(principal, topic.full_name(prefix), Operation.CREATE, Operation.DESCRIBE)
    grants += _topic(gateway, SENSOR_DATA.full_name(prefix), Operation.WRITE)
    grants += _topic(gateway, SCHEDULE_TRIGGERS.full_name(prefix), Operation.WRITE)
    grants += _topic(gateway, SENSOR_EVENTS.full_name(prefix), Operation.WRITE)
    grants += _topic(gateway, SENSOR_EVENTS.full_name(prefix), Operation.READ)  # the sensor cache evictor
    grants += _topic(ingest, SENSOR_DATA.full_name(prefix), Operation.READ)
    grants += _topic(ingest, INGESTED.full_name(prefix), Operation.WRITE)
    grants += _topic(ingest, SENSOR_DATA_DLQ.full_name(prefix), Operation.WRITE)
    grants += _topic(ingest, SCHEDULES.full_name(prefix), Operation.READ)  # stores computed schedules
    grants += _group(ingest, f"{prefix}flexstream-ingest")  # also its "-schedules" group
    grants += _topic(scheduler, SCHEDULE_TRIGGERS.full_name(prefix), Operation.READ)
    grants += _topic(scheduler, SCHEDULES.full_name(prefix), Operation.WRITE)
    grants += _group(scheduler, f"{prefix}flexstream-scheduler")
    # a job waits until ingest has stored up to the trigger's marks: where ingest_progress falls short, it reads
    # ingest's committed offsets (OffsetFetch)
    grants += _group(scheduler, f"{prefix}flexstream-ingest", Operation.DESCRIBE)
    grants += _topic(stats, INGESTED.full_name(prefix), Operation.READ)
    # faust keeps its own topics (the assignor's, changelogs) named after the app id, which is also its group
    stats_app = f"{prefix}flexstream-stats"
    grants += _topic(
        stats, stats_app, Operation.CREATE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS, Operation.READ,
        Operation.WRITE, pattern=Pattern.PREFIXED,
    )  # fmt: skip
    grants += _group(stats, stats_app)
    return sorted(set(grants))


def device_grants(prefix: str, account_id: int, username: str, services: dict[str, str] | None = None) -> list[Grant]:
    """A device credential of ``account_id``: write its account's device topic, read its account's schedules.
    Also what the services need on that account's topics (ingest reads the device topic, the scheduler writes the
    schedules topic): granted per account, so a topic nobody was given a credential for is read by no one."""
    names = {service: service for service in SERVICES} | (services or {})
    device = user(username)
    data = DEVICE_DATA.for_account(account_id).full_name(prefix)
    schedules = DEVICE_SCHEDULES.for_account(account_id).full_name(prefix)
    grants = _topic(device, data, Operation.WRITE, Operation.DESCRIBE)
    grants += _topic(device, schedules, Operation.READ, Operation.DESCRIBE)
    grants += _group(device, device_group_prefix(prefix, account_id))
    grants += _topic(user(names["ingest"]), data, Operation.READ, Operation.DESCRIBE)
    grants += _topic(user(names["scheduler"]), schedules, Operation.WRITE, Operation.DESCRIBE)
    return sorted(set(grants))


def device_group_prefix(prefix: str, account_id: int) -> str:
    """Consumer groups a device of the account may use (to read its schedules) start with this."""
    return f"{prefix}flexstream.devices.{account_id}."


def device_username(account_id: int, name: str) -> str:
    """A device principal's name: the account's id first, so that operators (and the broker's logs) see whose
    it is. ``name`` is the operator's label for the device."""
    return f"device-{account_id}-{name}"
