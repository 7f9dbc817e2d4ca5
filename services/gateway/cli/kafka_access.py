"""``flexstream kafka-acls`` and ``flexstream add-device-credential``: the broker's side of the trust boundary
(docs/architecture.md, "Trust boundary"). Both need a super user's credentials in ``FLEXSTREAM_KAFKA_SASL_*``."""

from __future__ import annotations

from dataclasses import dataclass

from shared import kafka, kafka_admin
from shared.kafka_grants import device_grants, device_username, service_grants
from shared.settings import Settings
from shared.topics import DEVICE_DATA, DEVICE_SCHEDULES


@dataclass(frozen=True)
class DeviceCredential:
    account_id: int
    username: str
    password: str
    sensor_data_topic: str
    schedules_topic: str
    acls: int


async def provision_services(settings: Settings) -> int:
    """Every service's ACLs for this deployment's topic prefix (idempotent). Returns how many ACLs were sent."""
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        await kafka.ensure_topics(settings)
        return await kafka_admin.create_acls(admin, service_grants(settings.topic_prefix))
    finally:
        await admin.close()


async def add_device_credential(
    settings: Settings, account_id: int, name: str, password: str | None = None
) -> DeviceCredential:
    """A SCRAM credential for a device of ``account_id`` (a new password replaces an earlier one of that name), the
    account's device topics (created once), and the ACLs: the device writes its account's device topic and reads
    its account's schedules; ingest reads that device topic and the scheduler writes those schedules."""
    username = device_username(account_id, name)
    secret = password or kafka_admin.new_password()
    data, schedules = DEVICE_DATA.for_account(account_id), DEVICE_SCHEDULES.for_account(account_id)
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        await kafka_admin.create_topics(admin, settings, [data, schedules])
        await kafka_admin.set_scram_password(admin, username, secret)
        acls = await kafka_admin.create_acls(admin, device_grants(settings.topic_prefix, account_id, username))
    finally:
        await admin.close()
    return DeviceCredential(
        account_id, username, secret, data.full_name(settings.topic_prefix),
        schedules.full_name(settings.topic_prefix), acls,
    )  # fmt: skip
