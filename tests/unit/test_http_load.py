"""The (b) load generator (bench/http_load.py): its response parsing, and requests over a real local socket."""

from __future__ import annotations

import asyncio

import pytest

from bench import http_load
from bench.http_load import HttpLoadError, Response, encode_post, parse_response


def test_encode_post_is_a_complete_request() -> None:
    raw = encode_post("127.0.0.1:8000", "/api/v3_0/sensors/7/data", b'{"a": 1}', {"Authorization": "t"})
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v3_0/sensors/7/data HTTP/1.1"
    assert "Host: 127.0.0.1:8000" in lines
    assert "Content-Length: 8" in lines
    assert "Authorization: t" in lines
    assert body == b'{"a": 1}'


def test_parse_waits_for_the_whole_body_and_keeps_what_follows() -> None:
    first = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\nhello"
    second = b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 2\r\n\r\n{}"
    buffer = bytearray(first[:-2])
    assert parse_response(buffer) is None
    buffer += first[-2:] + second[:10]
    assert parse_response(buffer) == Response(200, b"hello")
    assert parse_response(buffer) is None
    buffer += second[10:]
    assert parse_response(buffer) == Response(422, b"{}")
    assert buffer == b""


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Content-Length bodies only"),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "without Content-Length"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
    ],
)
def test_answers_it_cannot_read_are_errors(head: bytes, message: str) -> None:
    with pytest.raises(HttpLoadError, match=message):
        parse_response(bytearray(head))


async def _serve(answers: list[bytes]) -> tuple[asyncio.Server, str, list[bytes]]:
    """A server that reads one request at a time and writes the next answer (in two pieces)."""
    seen: list[bytes] = []
    replies = iter(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length")).split(b":")[1])
            seen.append(head + await reader.readexactly(length))
            answer = next(replies, None)
            if answer is None:
                writer.close()
                return
            writer.write(answer[:7])
            await writer.drain()
            writer.write(answer[7:])
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen


async def test_requests_over_keep_alive_connections() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno!"
    server, url, seen = await _serve([ok, bad, ok, ok])
    async with server:
        requests = [encode_post(http_load.host_of(url), f"/x/{i}", b"{}", {}) for i in range(4)]
        done = await http_load.run_clients(url, requests, 1, time_limit=30, timeout=5)
    assert [status for _, status in done] == [200, 400, 200, 200]
    assert seen == requests


async def test_a_closed_connection_fails_the_run() -> None:
    server, url, _ = await _serve([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    async with server:
        requests = [encode_post(http_load.host_of(url), "/x", b"{}", {}) for _ in range(3)]
        with pytest.raises(HttpLoadError, match="connection closed"):
            await http_load.run_clients(url, requests, 1, time_limit=30, timeout=5)


async def test_nothing_listening_is_a_bench_error() -> None:
    server, url, _ = await _serve([])
    server.close()
    await server.wait_closed()
    with pytest.raises(HttpLoadError, match="cannot connect"):
        await http_load.run_clients(url, [b""], 2, time_limit=30, timeout=5)
