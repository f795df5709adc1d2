"""Body plumbing for /v2: stream uploads into a sink in bounded batches, read small bodies, pace downloads."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
from litestar import Request

from appmarket.errors import Invalid, TooLarge
from appmarket.repo.oci import codes
from appmarket.repo.oci.uploads import UploadSink, UploadState
from appmarket.storage.base import CHUNK_SIZE

BATCH = 4 * 1024 * 1024  # bytes handed to the storage thread at a time (bounded memory per request)


class DownloadPacer:
    """Chunk size for blob downloads: large while few run, the storage default under load.

    Each chunk costs a thread hop and an ASGI send, so 1 MiB pieces hold one stream well below the
    loopback's speed, and 8 MiB ones reach it (bench/oci.py, blob pull). A download holds about two
    chunks at once (one read, one queued in the transport), so large chunks are kept to the first
    ``fast_streams`` concurrent downloads and memory stays bounded under many.
    """

    def __init__(self, fast_chunk: int = 8 * 1024 * 1024, fast_streams: int = 4) -> None:
        self.fast_chunk, self.fast_streams = fast_chunk, fast_streams
        self._active = 0
        self._lock = threading.Lock()

    def chunk_size(self) -> int:
        with self._lock:
            return self.fast_chunk if self._active < self.fast_streams else CHUNK_SIZE

    def counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks``, counted as one running download until exhausted or closed."""
        with self._lock:
            self._active += 1
        try:
            yield from chunks
        finally:
            with self._lock:
                self._active -= 1
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


DOWNLOADS = DownloadPacer()


async def stream_into(request: Request[Any, Any, Any], sink: UploadSink) -> UploadState:
    """Copy the body into the sink; on any failure keep what reached storage and re-raise.

    Receiving overlaps writing: the next batch is read from the socket while one thread writes the
    previous one to storage and another hashes it, with at most two batches in memory.
    """
    buf = bytearray()
    pending: asyncio.Future[tuple[None, None]] | None = None
    loop = asyncio.get_running_loop()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) >= BATCH:
                if pending is not None:
                    await pending
                data, buf = bytes(buf), bytearray()
                pending = asyncio.gather(loop.run_in_executor(None, sink.store, data),
                                         loop.run_in_executor(None, sink.hash, data))
        if pending is not None:
            await pending
            pending = None
        if buf:
            await anyio.to_thread.run_sync(sink.write, bytes(buf))
    except BaseException:
        if pending is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        await anyio.to_thread.run_sync(sink.abort)
        raise
    return await anyio.to_thread.run_sync(sink.finish)


async def read_limited(request: Request[Any, Any, Any], limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes exceeds {limit}", code=codes.TOO_LARGE)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise TooLarge(f"body exceeds {limit} bytes", code=codes.TOO_LARGE)
    return bytes(buf)


def parse_content_range(value: str | None) -> int | None:
    """``<start>-<end>`` of a PATCH (the spec's form, no unit); the start offset."""
    if not value:
        return None
    text = value.strip().removeprefix("bytes").strip(" =")
    start, sep, end = text.partition("-")
    if not sep or not start.isdigit() or not end.isdigit() or int(end) < int(start):
        raise Invalid(f"malformed Content-Range {value!r}", code=codes.RANGE_INVALID)
    return int(start)


_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]{0,19})\s*-\s*([0-9]{0,19})\s*", re.IGNORECASE)


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as (offset, length), or None to send the whole blob.

    RFC 9110 section 14.2: a Range the server does not understand (another unit, several ranges, bad
    syntax, a last position before the first) is ignored, so the answer is 200 with the full body; a
    well-formed range that selects nothing of this blob is unsatisfiable (416).
    """
    m = _RANGE.fullmatch(value or "")
    if m is None or m.group(1) == m.group(2) == "":
        return None
    first, last = m.group(1), m.group(2)
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Invalid(f"range {value!r} not satisfiable for {size} bytes", code=codes.RANGE_INVALID)
        return max(size - n, 0), min(n, size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Invalid(f"range {value!r} not satisfiable for {size} bytes", code=codes.RANGE_INVALID)
    end = min(int(last), size - 1) if last else size - 1
    return start, end - start + 1
