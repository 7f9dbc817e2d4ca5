"""Setting up the broker's security from Python: ACLs (CreateAcls) and SCRAM credentials
(AlterUserScramCredentials, which aiokafka's admin client does not offer: the request is defined here).

Run by ``flexstream kafka-acls`` and ``flexstream add-device-credential`` with a super user's credentials.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any, ClassVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.admin import CreateAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from shared import kafka
from shared.kafka_grants import Grant
from shared.settings import Settings
from shared.topics import Topic

SCRAM_ITERATIONS = 8192  # Kafka accepts 4096 to 16384
SCRAM_SHA_512 = 2  # Kafka's ScramMechanism code
ALLOW = 3  # AclPermissionType
ANY_HOST = "*"
TIME_SET_BY_BROKER = "LogAppendTime"


class KafkaAdminFailed(RuntimeError):
    """The broker refused an ACL or a credential (the message says which and why)."""


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    API_KEY: ClassVar[int] = 51

    def __init__(self, upsertions: list[tuple[str, int, int, bytes, bytes, dict[int, bytes]]]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]) -> Any:
        return request_struct_class([], self._upsertions, {})


def salted_password(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """SCRAM's SaltedPassword (RFC 5802) for SHA-512: what the broker derives its stored keys from."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


def new_password() -> str:
    return secrets.token_urlsafe(24)


async def set_scram_password(admin: AIOKafkaAdminClient, username: str, password: str) -> None:
    """Create or replace ``username``'s SCRAM-SHA-512 credential."""
    salt = secrets.token_bytes(32)
    request = AlterUserScramCredentialsRequest(
        [(username, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted_password(password, salt), {})]
    )
    response = await admin._send_request(request)  # noqa: SLF001 - aiokafka's one way to send any request
    for result in response.to_object()["results"]:
        if result["error_code"]:
            raise KafkaAdminFailed(f"SCRAM credential of {username}: {_error(result)}")


async def create_acls(admin: AIOKafkaAdminClient, grants: Iterable[Grant]) -> int:
    """Create every grant (an ACL that exists already is left as it is). Returns how many were sent."""
    count = 0
    for grant in grants:
        request = CreateAclsRequest(
            grant.resource, grant.name, grant.pattern, grant.principal, ANY_HOST, grant.operation, ALLOW
        )
        response = await admin._send_request(request)  # noqa: SLF001 - aiokafka has no create_acls
        for result in response.to_object()["creation_responses"]:
            if result["error_code"]:
                raise KafkaAdminFailed(f"ACL {grant}: {_error(result)}")
        count += 1
    return count


async def create_topics(admin: AIOKafkaAdminClient, settings: Settings, topics: Iterable[Topic[Any]]) -> list[str]:
    """Create device topics that do not exist yet. Their records carry the broker's time (LogAppendTime), not
    one the device chose: ingest takes a device command's belief time from it."""
    existing = set(await admin.list_topics())
    configs = {"max.message.bytes": str(kafka.MAX_MESSAGE_BYTES), "message.timestamp.type": TIME_SET_BY_BROKER}
    wanted = [
        NewTopic(
            name=topic.full_name(settings.topic_prefix),
            num_partitions=settings.topic_partitions,
            replication_factor=1,
            topic_configs=configs,
        )
        for topic in topics
        if topic.full_name(settings.topic_prefix) not in existing
    ]
    if wanted:
        try:
            await admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass
    return [topic.name for topic in wanted]


def _error(result: dict[str, Any]) -> str:
    return f"{for_code(result['error_code']).__name__}: {result.get('error_message') or ''}".rstrip(": ")
