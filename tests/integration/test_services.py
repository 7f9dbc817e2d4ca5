"""Each service really runs: it reports broker and database readiness, serves metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from shared import kafka
from shared.settings import IngestSettings, Settings
from shared.topics import SENSOR_DATA
from tests.integration.conftest import Service, start_service


def test_gateway_health_reports_kafka_and_db(gateway: Service) -> None:
    body = httpx.get(f"{gateway.url}/health").json()
    assert body == {"service": "gateway", "status": "ok", "kafka": "ok", "db": "ok"}


def test_gateway_metrics_count_requests_by_route_template(gateway: Service) -> None:
    httpx.get(f"{gateway.url}/api/v3_0/sensors/12345")  # no token: 401
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'flexstream_gateway_requests_total{method="GET",route="/api/v3_0/sensors/{id}",status="401"}' in metrics
    assert "flexstream_gateway_request_seconds_bucket" in metrics


def test_ingest_health_and_metrics(ingest: Service) -> None:
    assert httpx.get(f"{ingest.url}/health").json() == {
        "service": "ingest", "status": "ok", "kafka": "ok", "db": "ok", "assignment": "ok"
    }  # fmt: skip
    metrics = httpx.get(f"{ingest.url}/metrics").text
    assert "flexstream_ingest_records_total" in metrics


def test_workers_run_report_health_and_stop_gracefully(settings: Settings, service_logs: Path) -> None:
    for name in ("ingest", "scheduler", "stats"):
        service = start_service(name, settings, service_logs, stats_app_id=f"flexstream-stats-{settings.topic_prefix}")
        try:
            body = httpx.get(f"{service.url}/health").json()
            assert (body["status"], body["kafka"], body["db"]) == ("ok", "ok", "ok"), body
            assert "flexstream_" in httpx.get(f"{service.url}/metrics").text
        finally:
            assert service.stop() == 0, service.logs()[-2000:]


def test_gateway_stops_gracefully_on_sigterm(settings: Settings, service_logs: Path) -> None:
    service = start_service("gateway", settings, service_logs)
    assert service.stop() == 0, service.logs()[-2000:]


async def test_ingest_is_healthy_once_its_one_consumer_holds_the_partitions(
    settings: Settings, service_logs: Path
) -> None:
    """The process's lanes share one consumer of the group (one member, so no lane's join moves work that another
    has taken), and it is healthy once the group has given that consumer the partitions."""
    group = f"flexstream-ingest-lanes-{uuid.uuid4().hex[:6]}"
    service = await asyncio.to_thread(start_service, "ingest", settings, service_logs, ingest_group=group)
    try:
        admin = kafka.admin_client(settings)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([f"{settings.topic_prefix}{group}"])
        finally:
            await admin.close()
        (described,) = response.groups
        members = described[5]  # (member id, client id, host, metadata, assignment)
        assert len(members) == 1 < IngestSettings().ingest_lanes
        held = ConsumerProtocolMemberAssignment.decode(members[0][4]).partitions()
        commands = SENSOR_DATA.full_name(settings.topic_prefix)
        assert sorted(tp.partition for tp in held if tp.topic == commands) == list(range(settings.topic_partitions))
    finally:
        assert service.stop() == 0
