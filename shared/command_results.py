"""What ``ingested_commands.result`` holds for a command ingest has finished: its event, ``{"ingested": …}`` (the
``BeliefsIngested`` JSON as it went to Kafka), or its dead letter, ``{"dead": …}``. Ingest writes it in the
transaction that finished the command and reads it again to answer a replayed command as it did the first time;
the gateway reads it for a waiting write whose announcement gave only the command's id (``shared/channels.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from shared.messages import BeliefsIngested, DeadLetter


def of_event(payload: bytes) -> str:
    """The result of a command that produced ``payload`` (its encoded ``BeliefsIngested``). An event holds no text
    of a client's and no non-finite number, so it needs no ``storable``."""
    return '{"ingested": ' + payload.decode() + "}"


def of_letter(letter: DeadLetter) -> str:
    """The result of a dead-lettered command, as ``jsonb`` can hold it (``storable``)."""
    return json.dumps(storable({"dead": letter.model_dump(mode="json")}), allow_nan=False)


def outcome(stored: Mapping[str, Any]) -> BeliefsIngested | DeadLetter | None:
    """The event or dead letter a stored result holds (None: neither)."""
    if "ingested" in stored:
        return BeliefsIngested.model_validate(stored["ingested"])
    if "dead" in stored:
        return DeadLetter.model_validate(stored["dead"])
    return None


def storable(value: Any) -> Any:
    """``value`` as ``jsonb`` can hold it: NUL characters become U+FFFD, non-finite numbers null (the copy kept
    for replays; the message on Kafka keeps the original text)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
