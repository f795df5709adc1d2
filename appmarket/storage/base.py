"""The storage contract every driver implements.

Modelled on distribution's storage drivers: a handful of operations on opaque keys ("a/b/c"), with
streaming in and out, so that nothing above this layer knows whether bytes live on a local disk or in
S3, and no object is ever held whole in memory. Keys are built only in ``appmarket.repo.paths``.

Every driver raises ``ObjectNotFound`` (a ``NotFound``) for a missing key, whatever its backend calls
it, and ``InvalidKey`` for a key that is empty, absolute, or climbs out with ``..``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import BinaryIO, Protocol, runtime_checkable

import msgspec

from appmarket.errors import Invalid, NotFound

CHUNK_SIZE = 1024 * 1024


class ObjectNotFound(NotFound):
    """The key does not exist in the store."""

    code = "object_not_found"


class InvalidKey(Invalid):
    """A key that could escape the store or is malformed."""


class ObjectInfo(msgspec.Struct, frozen=True):
    key: str
    size: int
    modified: dt.datetime


def check_key(key: str) -> str:
    """Refuse keys that are empty, absolute, contain empty or dot segments, or control characters."""
    if not key or key.startswith("/") or key.endswith("/"):
        raise InvalidKey(f"invalid storage key {key!r}")
    for part in key.split("/"):
        if part in ("", ".", "..") or any(ord(c) < 32 for c in part) or "\\" in part:
            raise InvalidKey(f"invalid storage key {key!r}")
    return key


@runtime_checkable
class Writer(Protocol):
    """A resumable writer for one key (uploads that arrive in chunks, possibly on other replicas).

    ``size`` counts bytes written so far, including bytes written by earlier writers of the same key
    that were closed (not committed). ``commit`` makes the content visible at the key atomically;
    ``cancel`` discards it.
    """

    @property
    def size(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def close(self) -> None:
        """Persist what was written so far so that a later ``writer(key, append=True)`` resumes."""

    def commit(self) -> None: ...

    def cancel(self) -> None: ...


@runtime_checkable
class BlobStore(Protocol):
    """What AppMarket needs from object storage."""

    name: str

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> int:
        """Store the stream's bytes at ``key`` atomically (readers see all or nothing); return the size."""

    def put_bytes(self, key: str, data: bytes) -> int:
        """Small objects (index caches, markers): same guarantees as ``put``."""

    def open(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the object's bytes (from ``offset``, at most ``length``) in chunks of ``chunk_size``.

        Raises ``ObjectNotFound`` before the first chunk when the key is missing.
        """

    def get_bytes(self, key: str) -> bytes:
        """Whole small objects only; large ones go through ``open``."""

    def stat(self, key: str) -> ObjectInfo: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the key; missing keys raise ``ObjectNotFound``."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a folder-like prefix ending in ``/``)."""

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (atomic on the filesystem, copy+delete on S3)."""

    def writers(self, prefix: str) -> Iterator[ObjectInfo]:
        """Resumable writers neither committed nor cancelled whose key starts with ``prefix``: their key
        and the time of their last write (``size`` is what the driver holds in staging; on S3 the tail).
        What lets a caller find and cancel writers its own records no longer know."""

    def writer(self, key: str, append: bool = False) -> Writer:
        """A resumable writer; ``append=True`` continues the content written by earlier writers."""

    def presigned_url(self, key: str, expires_in: int = 300) -> str | None:
        """A short-lived URL a client may GET directly, or None where the driver has none."""

    def close(self) -> None:
        """Release clients and pools."""
