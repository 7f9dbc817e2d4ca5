"""Sending data commands to Kafka and answering once ingest has reported on them (read-your-writes).

The command is produced (``acks=all``, idempotent) to ``flexstream.sensor-data.v1`` keyed by sensor id, so it
is ordered after every earlier write or deletion of that sensor. The request then waits, at most
``GatewaySettings.write_wait``, for ingest's ``BeliefsIngested`` event (or dead letter) and answers exactly as
FlexMeasures would. When the wait times out, or the client asked not to wait (``Prefer: respond-async`` header
or ``?wait=false``), the answer is **202** with the command id: the data is durable in Kafka and will be stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.http.failures import unavailable
from services.gateway.http.responses import (
    already_received,
    invalid_replacement,
    no_content,
    ok,
    processed,
    validation_error,
)
from services.gateway.state import State
from services.gateway.workers.write_waiter import Outcome
from shared.messages import BeliefsIngested, DataCommand, DeadLetter
from shared.topics import SENSOR_DATA, key_for

logger = logging.getLogger(__name__)

# Not "nothing was stored": a command the broker did not acknowledge in time may still arrive; posting it again
# is harmless (an unchanged belief is stored once).
BROKER_UNAVAILABLE = "The message broker is unavailable; the data may not have been stored. Please try again."
ACCEPTED_MESSAGE = (
    "Request has been accepted and is stored in the message log; it will be processed shortly. "
    "Read the data back (or wait for the ingested event of this command_id) to see it."
)


def prefers_async(request: Request[Any]) -> bool:
    """``Prefer: respond-async`` (RFC 7240) or ``?wait=false``: answer 202 as soon as the command is durable."""
    preferences = {p.split("=")[0].strip().lower() for p in request.headers.get("prefer", "").split(",")}
    return "respond-async" in preferences or request.query_params.get("wait", "").lower() in ("false", "0", "no")


async def submit(request: Request[State], commands: Sequence[DataCommand], location: str) -> Response:
    """Produce ``commands`` and answer with the combined outcome (or 202)."""
    state = request.state
    wait = not prefers_async(request)
    futures = [state["waiter"].expect(command.command_id) for command in commands] if wait else []
    topic = SENSOR_DATA.full_name(state["settings"].topic_prefix)
    settings = state["settings"]
    try:
        async with asyncio.timeout(settings.broker_timeout * len(commands)):  # an unreachable broker: 503, no hang
            sent = [
                await state["producer"].send(topic, SENSOR_DATA.encode(command), key=key_for(command.sensor_id))
                for command in commands
            ]
            await asyncio.gather(*sent)
    except (KafkaError, TimeoutError) as exc:
        logger.warning("could not produce sensor data: %s", exc, extra={"sensor_id": commands[0].sensor_id})
        for command in commands:
            state["waiter"].forget(command.command_id)
        raise unavailable(BROKER_UNAVAILABLE, settings.retry_after) from None
    try:
        if not wait:
            return accepted(commands, preference_applied=True)
        outcomes = await asyncio.wait_for(asyncio.gather(*futures), settings.write_wait.total_seconds())
    except TimeoutError:
        logger.info("write wait timed out", extra={"command_id": str(commands[0].command_id)})
        return accepted(commands)
    finally:
        for command in commands:
            state["waiter"].forget(command.command_id)
    return answer(outcomes, location)


def accepted(commands: Sequence[DataCommand], *, preference_applied: bool = False) -> Response:
    body: dict[str, object] = {
        "status": "ACCEPTED",
        "command_id": str(commands[0].command_id),
        "message": ACCEPTED_MESSAGE,
    }
    if len(commands) > 1:
        body["command_ids"] = [str(command.command_id) for command in commands]
    response = ok(body, 202)
    if preference_applied:
        response.headers["Preference-Applied"] = "respond-async"
    return response


def answer(outcomes: Sequence[Outcome], location: str) -> Response:
    """FlexMeasures' answer to a write (docs/api.md, "Sensor data"): any rejection wins, then already-received,
    then processed."""
    dead = [o for o in outcomes if isinstance(o, DeadLetter)]
    if dead:
        raise validation_error({location: {"_schema": [letter.detail for letter in dead]}})
    events = [o for o in outcomes if isinstance(o, BeliefsIngested)]
    if any(e.outcome == "replacement_rejected" for e in events):
        raise invalid_replacement()
    if all(e.outcome == "deleted" for e in events):
        return no_content()
    if any(e.outcome == "already_received" for e in events):
        return already_received()
    return processed()
