"""One-dimensional PostgreSQL arrays without nulls, built with numpy in the server's binary format and sent as
query parameters as they are: no Python object per element (a day of 96 values would otherwise make hundreds).

``Int4Array``, ``TimestamptzArray`` and ``Float8Array`` wrap the bytes; importing this module teaches psycopg to
send them (binary, with the array type's oid)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import psycopg
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.pq import Format

from services.ingest.copy_format import pg_micros


@dataclass(frozen=True, slots=True)
class BinaryArray:
    """An array's bytes: a header (one dimension, no nulls, element type, length, lower bound 1), then each
    element's length and value (big-endian ``code``)."""

    data: bytes
    element_oid: ClassVar[int]  # pg_type oids of the element and of the array
    array_oid: ClassVar[int]
    code: ClassVar[str]

    @classmethod
    def of(cls, values: np.ndarray) -> Self:
        items = np.empty(len(values), dtype=[("length", ">i4"), ("value", cls.code)])
        items["length"] = np.dtype(cls.code).itemsize
        items["value"] = values
        return cls(struct.pack(">iiiii", 1, 0, cls.element_oid, len(values), 1) + items.tobytes())


class Int4Array(BinaryArray):
    element_oid, array_oid, code = 23, 1007, ">i4"


class TimestamptzArray(BinaryArray):
    element_oid, array_oid, code = 1184, 1185, ">i8"

    @classmethod
    def of(cls, values: np.ndarray) -> Self:
        """``values``: datetime64, UTC."""
        return super().of(pg_micros(values))


class Float8Array(BinaryArray):
    element_oid, array_oid, code = 701, 1022, ">f8"


class _BinaryArrayDumper(Dumper):
    """psycopg makes a dumper per class it dumps: each takes its class's array oid."""

    format = Format.BINARY

    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        assert issubclass(cls, BinaryArray)
        self.oid = cls.array_oid

    def dump(self, obj: Any) -> bytes:
        data: bytes = obj.data
        return data


psycopg.adapters.register_dumper(BinaryArray, _BinaryArrayDumper)
