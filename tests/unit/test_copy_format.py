"""The numpy-built binary COPY rows decode to what they encode (checked field by field)."""

import struct
from datetime import timedelta

import numpy as np

from services.ingest import sql
from services.ingest.copy_format import HEADER, STAGING_ROW, TRAILER, staging_rows


def test_staging_rows_layout() -> None:
    starts = np.array(["2000-01-01T00:15:00"], dtype="datetime64[ns]")
    beliefs = np.array(["2000-01-01T01:00:00"], dtype="datetime64[ns]")
    data = staging_rows(2, 7, 9, timedelta(minutes=15), starts, beliefs, np.array([1.5]))
    assert len(data) == STAGING_ROW.itemsize
    fields = struct.unpack(">h" + "ii" + "ii" + "iq" + "ii" + "iq" + "id" + "iqii", data)
    assert fields == (7, 4, 2, 4, 7, 8, 15 * 60 * 10**6, 4, 9, 8, 3600 * 10**6, 8, 1.5, 16, 15 * 60 * 10**6, 0, 0)
    assert HEADER.startswith(b"PGCOPY\n\xff\r\n\x00") and TRAILER == b"\xff\xff"


def test_copy_blocks_are_the_whole_stream_in_few_writes() -> None:
    chunks = [bytes([i]) * 300 for i in range(10)]
    blocks = list(sql.copy_blocks(chunks, size=1000))
    assert b"".join(blocks) == HEADER + b"".join(chunks) + TRAILER
    assert len(blocks) == 4  # 3 chunks (and the header) per block, then the last with the trailer
    assert all(len(block) <= 1000 + len(TRAILER) for block in blocks)
    assert list(sql.copy_blocks([])) == [HEADER + TRAILER]
    assert list(sql.copy_blocks([b"x" * 5000], size=1000)) == [HEADER, b"x" * 5000 + TRAILER]
