"""Each service really runs: it reports broker and database readiness, serves metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx

from shared.settings import Settings
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
    assert httpx.get(f"{ingest.url}/health").json() == {"service": "ingest", "status": "ok", "kafka": "ok", "db": "ok"}
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
