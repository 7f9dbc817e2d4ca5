"""One-dimensional PostgreSQL arrays without nulls, built with numpy in the server's binary format and sent as
query parameters as they are: no Python object per element (a day of 96 values would otherwise make hundreds).

``Int4Array``, ``TimestamptzArray`` and ``Float8Array`` wrap the bytes; importing this module teaches psycopg to
send them (binary, with the array type's oid)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

from services.ingest.copy_format import pg_micros

_INT4, _TIMESTAMPTZ, _FLOAT8 = 23, 1184, 701  # pg_type oids of the elements


def _array(element_oid: int, size: int, code: str, values: np.ndarray) -> bytes:
    """Header (one dimension, no nulls, element type, length, lower bound 1), then each element's length and
    bytes (big-endian ``code``)."""
    items = np.empty(len(values), dtype=[("length", ">i4"), ("value", code)])
    items["length"] = size
    items["value"] = values
    return struct.pack(">iiiii", 1, 0, element_oid, len(values), 1) + items.tobytes()


@dataclass(frozen=True, slots=True)
class Int4Array:
    data: bytes

    @classmethod
    def of(cls, values: np.ndarray) -> Int4Array:
        return cls(_array(_INT4, 4, ">i4", values))


@dataclass(frozen=True, slots=True)
class TimestamptzArray:
    data: bytes

    @classmethod
    def of(cls, instants: np.ndarray) -> TimestamptzArray:
        """``instants``: datetime64, UTC."""
        return cls(_array(_TIMESTAMPTZ, 8, ">i8", pg_micros(instants)))


@dataclass(frozen=True, slots=True)
class Float8Array:
    data: bytes

    @classmethod
    def of(cls, values: np.ndarray) -> Float8Array:
        return cls(_array(_FLOAT8, 8, ">f8", values))


class _ArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Int4Array | TimestamptzArray | Float8Array) -> bytes:
        return obj.data


class _Int4ArrayDumper(_ArrayDumper):
    oid = 1007


class _TimestamptzArrayDumper(_ArrayDumper):
    oid = 1185


class _Float8ArrayDumper(_ArrayDumper):
    oid = 1022


psycopg.adapters.register_dumper(Int4Array, _Int4ArrayDumper)
psycopg.adapters.register_dumper(TimestamptzArray, _TimestamptzArrayDumper)
psycopg.adapters.register_dumper(Float8Array, _Float8ArrayDumper)
