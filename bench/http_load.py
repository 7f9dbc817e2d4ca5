"""The HTTP load generator of (b): keep-alive HTTP/1.1 connections over asyncio's transports, requests encoded
before the clock starts, responses read by their ``Content-Length``.

On the 2-core benchmark machine the load generator shares the CPU with the system under test, so every
microsecond it spends is taken from the gateway, ingest, Kafka and PostgreSQL. aiohttp spent 0.16–0.26 ms of CPU
per POST there (the "benchmark" figure in the notes of (b)); this client does the same requests for a fraction of
that, as a load tool such as wrk would. It speaks only what the gateway answers: a status line, headers, and a
body of ``Content-Length`` bytes. Anything else (a chunked body, a closed connection) fails the request loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.harness import BenchError


class HttpLoadError(BenchError):
    """The server's answer was not one this client reads (or the connection broke)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def encode_post(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One complete HTTP/1.1 POST request (keep-alive), ready to write."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_response(buffer: bytearray) -> Response | None:
    """The first complete response in ``buffer`` (removed from it), or None while it is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpLoadError(f"not an HTTP/1.x status line: {head[0]!r}")
    length: int | None = None
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise HttpLoadError(f"a {value.strip()} body; this client reads Content-Length bodies only")
    if length is None:
        raise HttpLoadError("a response without Content-Length")
    total = end + 4 + length
    if len(buffer) < total:
        return None
    body = bytes(buffer[end + 4 : total])
    del buffer[:total]
    return Response(int(parts[1]), body)


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            response = parse_response(self.buffer)
        except (HttpLoadError, ValueError) as exc:
            self.waiter.set_exception(HttpLoadError(str(exc)))
            return
        if response is not None:
            self.waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpLoadError(f"connection closed before the response ({exc})"))

    def request(self, raw: bytes) -> asyncio.Future[Response]:
        """Send ``raw``; the future resolves to its response."""
        if self.transport is None or self.transport.is_closing():
            raise HttpLoadError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(base_url: str) -> Connection:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname is None:
        raise HttpLoadError(f"only plain http://host:port URLs: {base_url}")
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, parts.hostname, parts.port or 80)
    return protocol


def host_of(base_url: str) -> str:
    return urlsplit(base_url).netloc


async def run_clients(
    base_url: str, requests: Iterable[bytes], concurrency: int, *, time_limit: float, timeout: float = 60
) -> list[tuple[float, int]]:
    """``concurrency`` connections take the next of ``requests`` in turn, one at a time each; none is sent after
    ``time_limit`` seconds. Returns (seconds, status) of every request, in completion order."""
    loop = asyncio.get_running_loop()
    queue = iter(requests)
    done: list[tuple[float, int]] = []
    deadline = loop.time() + time_limit

    async def client(connection: Connection) -> None:
        for raw in queue:
            if loop.time() > deadline:
                return
            t0 = loop.time()
            try:
                response = await asyncio.wait_for(connection.request(raw), timeout)
            except TimeoutError:
                raise HttpLoadError(f"no response within {timeout} s") from None
            done.append((loop.time() - t0, response.status))

    connections: list[Connection] = []
    try:
        for _ in range(concurrency):
            try:
                connections.append(await connect(base_url))
            except OSError as exc:
                raise HttpLoadError(f"cannot connect to {base_url}: {exc}") from None
        await asyncio.gather(*(client(connection) for connection in connections))
    finally:
        for connection in connections:
            connection.close()
    return done
