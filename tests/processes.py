"""Running FlexStream's services as real subprocesses, for the integration tests and the benchmark:
``start_service`` starts ``python -m services.<name>`` on a free 127.0.0.1 port and waits for its /health."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


class ServiceFailed(RuntimeError):
    """The service exited during start-up or did not become healthy in time (the message has its log's end)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(settings: Settings, root: Path = ROOT, **extra: Any) -> dict[str, str]:
    """This environment without any FLEXSTREAM_* of its own, plus ``settings`` and ``extra`` as FLEXSTREAM_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXSTREAM_")}
    env.update(
        FLEXSTREAM_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        FLEXSTREAM_KAFKA_SECURITY_PROTOCOL=settings.kafka_security_protocol,
        FLEXSTREAM_KAFKA_SASL_MECHANISM=settings.kafka_sasl_mechanism,
        FLEXSTREAM_KAFKA_SASL_USERNAME=settings.kafka_sasl_username,
        FLEXSTREAM_KAFKA_SASL_PASSWORD=settings.kafka_sasl_password.get_secret_value(),
        FLEXSTREAM_KAFKA_SSL_CAFILE=settings.kafka_ssl_cafile,
        FLEXSTREAM_KAFKA_SSL_CERTFILE=settings.kafka_ssl_certfile,
        FLEXSTREAM_KAFKA_SSL_KEYFILE=settings.kafka_ssl_keyfile,
        FLEXSTREAM_DATABASE_URL=settings.database_url.get_secret_value(),
        FLEXSTREAM_TOPIC_PREFIX=settings.topic_prefix,
        FLEXSTREAM_LOG_JSON="true",
        PYTHONPATH=str(root),
    )
    env.update({f"FLEXSTREAM_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def local_credentials() -> dict[str, str]:
    """The passwords of the local authenticated broker's principals (admin and one per service), from the file
    ``scripts/infra.sh`` names in FLEXSTREAM_KAFKA_CREDENTIALS; empty for a broker without authentication."""
    path = os.environ.get("FLEXSTREAM_KAFKA_CREDENTIALS")
    if not path:
        return {}
    return dict(line.split(maxsplit=1) for line in Path(path).read_text().splitlines() if line.strip())


def service_principal(name: str, settings: Settings) -> dict[str, str]:
    """A service's own Kafka principal (its name) where the local broker authenticates, else nothing: the service
    then connects as ``settings`` say."""
    passwords = local_credentials()
    if not settings.kafka_sasl or name not in passwords:
        return {}
    return {"kafka_sasl_username": name, "kafka_sasl_password": passwords[name]}


def provision_acls(settings: Settings, root: Path = ROOT) -> None:
    """Every service's ACLs for ``settings.topic_prefix`` (``flexstream kafka-acls``, as the super user of
    ``settings``), where the broker authenticates; nothing to do for a broker without authentication."""
    if not settings.kafka_sasl:
        return
    subprocess.run(
        [sys.executable, "-m", "services.gateway.cli", "kafka-acls"], cwd=root, env=service_env(settings, root),
        check=True, capture_output=True,
    )  # fmt: skip


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.logs()[-chars:]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (this process only) and wait: a graceful shutdown returns 0. Killed if it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return int(self.process.returncode)


def start_service(
    name: str, settings: Settings, log_dir: Path, *, profile: bool = False, root: Path = ROOT, **extra: Any
) -> Service:
    """Start ``python -m services.<name>`` and wait (60 s at most) until its /health answers 200.

    ``port`` in ``extra`` picks the port (default: a free one). With ``profile`` the process runs under
    cProfile and writes ``<log>.prof`` when it stops. ``root`` is the checkout to run (e.g. an older commit).
    """
    port = int(extra.pop("port", None) or free_port())
    port_key = "port" if name == "gateway" else "health_port"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{settings.topic_prefix}{name}-{port}.log"
    env = service_env(settings, root, **{port_key: port, **service_principal(name, settings), **extra})
    profiler = ["-m", "cProfile", "-o", str(log.with_suffix(".prof"))] if profile else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *profiler, "-m", f"services.{name}"], cwd=root, env=env, stdout=out, stderr=out
        )
    service = Service(name, process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceFailed(f"{name} exited with {process.returncode}:\n{service.tail()}")
        try:
            if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    service.stop()
    raise ServiceFailed(f"{name} did not become healthy in 60 s:\n{service.tail()}")
