"""The gateway's last line of answers: outages are 503 with Retry-After, bugs 500, and neither reaches the
server as an exception (which made it reset the keep-alive connection); bodies are bounded before reading."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from aiokafka.errors import KafkaConnectionError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.gateway.http.failures import FailureMiddleware
from services.gateway.http.limits import BodyLimitMiddleware
from services.gateway.http.request_input import MAX_JSON_DEPTH, depth


async def failing(request: Request) -> Response:
    raise {
        "db": psycopg.OperationalError("gone"),
        "kafka": KafkaConnectionError(),
        "bug": KeyError("x"),
        "data": psycopg.errors.UntranslatableCharacter("unsupported Unicode escape sequence"),
    }[request.path_params["what"]]


async def echo(request: Request) -> Response:
    return Response(str(len(await request.body())))


def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/fail/{what}", failing), Route("/echo", echo, methods=["POST"]),
                Route("/x/data/upload", echo, methods=["POST"])],
        middleware=[Middleware(FailureMiddleware, retry_after=7),
                    Middleware(BodyLimitMiddleware, max_bytes=100, upload_max_bytes=1000)],
    )  # fmt: skip
    transport = httpx.ASGITransport(app, raise_app_exceptions=True)  # an exception reaching the server fails
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize("what", ["db", "kafka"])
async def test_an_outage_is_a_503_with_retry_after(what: str) -> None:
    answer = await client().get(f"/fail/{what}")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
    assert answer.json()["status"] == 503 and "unavailable" in answer.json()["message"]


async def test_a_bug_is_a_500_and_not_raised_to_the_server() -> None:
    answer = await client().get("/fail/bug")
    assert answer.status_code == 500 and answer.json()["status"] == 500
    assert "connection" not in answer.headers


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(2):
        yield b"x" * 60


async def test_bodies_are_bounded_per_route() -> None:
    async with client() as c:
        assert (await c.post("/echo", content=b"x" * 100)).text == "100"
        refused = await c.post("/echo", content=b"x" * 101)
        assert refused.status_code == 413 and refused.headers["connection"] == "close"
        assert (await c.post("/x/data/upload", content=b"x" * 1000)).text == "1000"
        chunked = await c.post("/echo", content=_chunks())  # no Content-Length: counted as it arrives
        assert chunked.status_code == 413


def test_depth_counts_nesting_without_recursion() -> None:
    assert depth(1) == 0 and depth([]) == 1 and depth({"a": [1, {"b": []}]}) == 4
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert depth(deep) == 100_001 > MAX_JSON_DEPTH


async def test_input_the_database_refuses_is_a_422() -> None:
    answer = await client().get("/fail/data")
    assert answer.status_code == 422 and answer.json()["status"] == "UNPROCESSABLE_ENTITY"
