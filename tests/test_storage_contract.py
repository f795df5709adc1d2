"""One contract suite every storage driver must pass (distribution's ``testsuites`` idea).

Each contract test runs against the filesystem driver and against the S3 driver talking to a real
``moto_server`` over HTTP; a few driver-specific tests follow at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import msgspec
import pytest

from appmarket.errors import Invalid
from appmarket.settings import FilesystemStorage, S3Storage, Settings
from appmarket.storage.base import CHUNK_SIZE, BlobStore, InvalidKey, ObjectNotFound, Writer
from appmarket.storage.factory import open_store
from appmarket.storage.filesystem import FilesystemStore
from appmarket.storage.s3 import S3Store
from tests.support.s3 import PART

MiB = 1024 * 1024
StoreFactory = Callable[[], BlobStore]


class Unseekable(io.RawIOBase):
    """A stream of unknown size that cannot seek (like a request body), optionally failing mid-way.

    Every MiB differs (its index is stamped at its start) so misordered or repeated parts show.
    """

    _BASE = os.urandom(MiB)

    def __init__(self, size: int, fail_at: int | None = None) -> None:
        self.size, self.fail_at, self.pos = size, fail_at, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]  # RawIOBase's buffer type
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise OSError("client went away")
        index, offset = divmod(self.pos, MiB)
        n = min(len(buf), MiB - offset, self.size - self.pos)
        block = index.to_bytes(8, "big") + self._BASE[8:]
        buf[:n] = block[offset : offset + n]
        self.pos += n
        return n

    @classmethod
    def digest(cls, size: int) -> str:
        h, stream = hashlib.sha256(), cls(size)
        while chunk := stream.read(MiB):
            h.update(chunk)
        return h.hexdigest()


def stream(size: int, fail_at: int | None = None) -> BinaryIO:
    """The contract types streams as ``BinaryIO``; drivers only call ``read(n)``."""
    return cast("BinaryIO", Unseekable(size, fail_at))


def sha256_of(chunks: Iterator[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        assert 0 < len(chunk) <= CHUNK_SIZE
        h.update(chunk)
    return h.hexdigest()


@pytest.fixture(params=["filesystem", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores on the same backing storage, as separate processes or replicas would."""
    opened: list[BlobStore] = []

    def make() -> BlobStore:
        store: BlobStore
        if request.param == "filesystem":
            store = FilesystemStore(tmp_path / "store")
        else:
            store = S3Store(request.getfixturevalue("s3_settings"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> BlobStore:
    return make_store()


def keys(store: BlobStore, prefix: str = "") -> list[str]:
    return sorted(info.key for info in store.list(prefix))


# -- the contract ------------------------------------------------------------------------------------


def test_implements_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    w = store.writer("w/x")
    assert isinstance(w, Writer)
    w.cancel()


@pytest.mark.parametrize("data", [b"", b"a", b"\xc3\x9f\x80\x00", os.urandom(CHUNK_SIZE + 3)],
                         ids=["empty", "one-byte", "binary", "over-a-chunk"])
def test_put_get_roundtrip(store: BlobStore, data: bytes) -> None:
    assert store.put_bytes("charts/a.tgz", data) == len(data)
    assert store.get_bytes("charts/a.tgz") == data
    assert store.put("charts/b.tgz", io.BytesIO(data), len(data)) == len(data)
    assert b"".join(store.open("charts/b.tgz")) == data
    info = store.stat("charts/b.tgz")
    assert (info.key, info.size) == ("charts/b.tgz", len(data))
    assert info.modified.tzinfo is not None
    assert store.exists("charts/a.tgz")
    assert not store.exists("charts/c.tgz")


def test_put_overwrites(store: BlobStore) -> None:
    store.put_bytes("k", b"long old content")
    store.put_bytes("k", b"new")
    assert store.get_bytes("k") == b"new"
    assert store.stat("k").size == 3


def test_put_large_unseekable_stream(store: BlobStore) -> None:
    size = 12 * MiB + 12345  # over the 5 MiB threshold: multipart on S3, not a part-size multiple
    assert store.put("blobs/big", stream(size)) == size
    assert store.stat("blobs/big").size == size
    assert sha256_of(store.open("blobs/big")) == Unseekable.digest(size)


def test_put_size_mismatch_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(Invalid):
        store.put("k", io.BytesIO(b"abc"), size=5)
    assert not store.exists("k")


def test_ranged_reads(store: BlobStore) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    store.put_bytes("r", data)
    cases = [(0, None), (5, None), (CHUNK_SIZE - 1, 2), (CHUNK_SIZE + 5, 2 * CHUNK_SIZE),
             (len(data) - 1, None), (len(data) - 3, 100), (len(data), None), (len(data) + 10, 5), (10, 0)]
    for offset, length in cases:
        end = None if length is None else offset + length
        assert b"".join(store.open("r", offset, length)) == data[offset:end], (offset, length)
    with pytest.raises(Invalid):
        store.open("r", -1)


def test_reads_in_the_chunk_size_asked(store: BlobStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 5)
    store.put_bytes("c", data)
    for chunk_size, offset, length in [(4 * CHUNK_SIZE, 0, None), (1000, 3, 4500), (CHUNK_SIZE // 2, 7, None)]:
        pieces = list(store.open("c", offset, length, chunk_size))
        end = None if length is None else offset + length
        assert b"".join(pieces) == data[offset:end]
        assert all(0 < len(p) <= chunk_size for p in pieces)
        assert len(pieces[0]) == min(chunk_size, len(data[offset:end]))  # full pieces, not the default size
    with pytest.raises(Invalid):
        store.open("c", 0, None, 0)


def test_missing_objects(store: BlobStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.open("missing/k")  # before iterating: a handler can answer 404 before streaming
    with pytest.raises(ObjectNotFound):
        store.open("missing/k", 10, 5)
    with pytest.raises(ObjectNotFound):
        store.get_bytes("missing/k")
    with pytest.raises(ObjectNotFound):
        store.stat("missing/k")
    with pytest.raises(ObjectNotFound):
        store.delete("missing/k")
    with pytest.raises(ObjectNotFound):
        store.move("missing/k", "elsewhere")
    assert not store.exists("missing/k")


def test_delete(store: BlobStore) -> None:
    store.put_bytes("d/e/f", b"x")
    store.put_bytes("d/g", b"y")
    store.delete("d/e/f")
    assert not store.exists("d/e/f")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("d/e/f")
    with pytest.raises(ObjectNotFound):
        store.delete("d/e/f")
    assert keys(store) == ["d/g"]


def test_list_by_prefix(store: BlobStore) -> None:
    for key in ["a/1", "a/2", "a/b/3", "ab/4", "b/5", "a.txt"]:
        store.put_bytes(key, key.encode())
    # Work in progress must stay invisible: an open upload and a failed put.
    pending = store.writer("a/pending")
    pending.write(b"partial")
    pending.close()
    with pytest.raises(OSError, match="went away"):
        store.put("a/failed", stream(MiB, fail_at=MiB // 2))
    assert keys(store, "a/") == ["a/1", "a/2", "a/b/3"]
    assert keys(store, "a/b/") == ["a/b/3"]
    assert keys(store, "a") == ["a.txt", "a/1", "a/2", "a/b/3", "ab/4"]
    # Not promised by the contract, but both drivers list in key order (S3 does, so the filesystem too).
    assert [i.key for i in store.list("")] == ["a.txt", "a/1", "a/2", "a/b/3", "ab/4", "b/5"]
    assert keys(store, "zzz/") == []
    assert {i.key: i.size for i in store.list("a/")} == {"a/1": 3, "a/2": 3, "a/b/3": 5}
    with pytest.raises(InvalidKey):
        list(store.list("../"))


def test_move(store: BlobStore) -> None:
    store.put_bytes("uploads/u1", b"content")
    store.put_bytes("blobs/old", b"previous")
    store.move("uploads/u1", "blobs/new")
    assert store.get_bytes("blobs/new") == b"content"
    assert not store.exists("uploads/u1")
    store.put_bytes("uploads/u2", b"replacement")
    store.move("uploads/u2", "blobs/old")
    assert store.get_bytes("blobs/old") == b"replacement"
    assert keys(store) == ["blobs/new", "blobs/old"]


def test_failed_put_leaves_previous_object(store: BlobStore) -> None:
    store.put_bytes("blobs/k", b"version one")
    size = 12 * MiB  # fails after two S3 parts went up: the upload must be abandoned, not completed
    with pytest.raises(OSError, match="went away"):
        store.put("blobs/k", stream(size, fail_at=11 * MiB))
    assert store.get_bytes("blobs/k") == b"version one"
    with pytest.raises(OSError, match="went away"):
        store.put("blobs/new", stream(size, fail_at=MiB))
    assert not store.exists("blobs/new")
    assert keys(store) == ["blobs/k"]


def test_readers_never_see_a_mix(store: BlobStore) -> None:
    versions = [bytes([v]) * (2 * CHUNK_SIZE + 1) for v in b"AB"]
    store.put_bytes("k", versions[0])
    stop = threading.Event()

    def overwrite() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            store.put_bytes("k", versions[i % 2])

    thread = threading.Thread(target=overwrite)
    thread.start()
    try:
        for _ in range(20):
            assert store.get_bytes("k") in versions
    finally:
        stop.set()
        thread.join()


BAD_KEYS = ["", "/abs", "../x", "a/../b", "a//b", "a/", "./a", "a/./b", "a\\b", "a\nb", "_staging/x"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_rejected(store: BlobStore, key: str) -> None:
    operations: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put(key, io.BytesIO(b"x")),
        lambda: store.open(key),
        lambda: store.get_bytes(key),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.move(key, "ok"),
        lambda: store.move("ok", key),
        lambda: store.writer(key),
        lambda: store.writer(key, append=True),
        lambda: store.presigned_url(key),
    ]
    store.put_bytes("ok", b"x")
    for operation in operations:
        with pytest.raises(InvalidKey):
            operation()
    assert keys(store) == ["ok"]


def test_writer_resumes_across_instances(make_store: StoreFactory) -> None:
    pieces = [b"a" * 1000, b"b" * 3000, Unseekable(PART + 123).read(), b"c" * 10, Unseekable(PART).read()]
    expected, size = b"".join(pieces), 0
    first = make_store()
    w = first.writer("uploads/u")
    for i, piece in enumerate(pieces):
        if i:  # every piece from a fresh store instance, as another replica would
            w = make_store().writer("uploads/u", append=True)
            assert w.size == size
        assert w.write(piece) == len(piece)
        size += len(piece)
        assert w.size == size
        w.close()
        assert w.size == size
        assert not first.exists("uploads/u")
    w = make_store().writer("uploads/u", append=True)
    assert w.size == len(expected)
    w.commit()
    assert first.get_bytes("uploads/u") == expected
    assert keys(first) == ["uploads/u"]
    with pytest.raises(ObjectNotFound):
        first.writer("uploads/u", append=True)  # committed: nothing left to resume


def test_writer_commit_in_one_go_and_replace(store: BlobStore) -> None:
    store.put_bytes("k", b"old")
    w = store.writer("k")
    w.write(b"new ")
    w.write(b"content")
    assert store.get_bytes("k") == b"old"  # invisible until commit
    w.commit()
    assert store.get_bytes("k") == b"new content"
    with pytest.raises(ValueError, match="committed"):
        w.write(b"more")
    empty = store.writer("empty")
    empty.commit()
    assert store.get_bytes("empty") == b""


def test_writer_cancel_leaves_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    w = store.writer("uploads/c")
    w.write(Unseekable(PART + 10).read())
    w.close()
    w = make_store().writer("uploads/c", append=True)
    assert w.size == PART + 10
    w.cancel()
    assert not store.exists("uploads/c")
    assert keys(store) == []
    with pytest.raises(ObjectNotFound):
        store.writer("uploads/c", append=True)


def test_writers_lists_open_writers_by_key(make_store: StoreFactory) -> None:
    store = make_store()
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    for key in ("uploads/a/data", "uploads/b/data", "other/c", "uploads/done/data", "uploads/gone/data"):
        w = store.writer(key)
        w.write(b"x" * 10)
        w.close()
    make_store().writer("uploads/done/data", append=True).commit()
    make_store().writer("uploads/gone/data", append=True).cancel()
    listed = {info.key: info for info in make_store().writers("uploads/")}
    assert sorted(listed) == ["uploads/a/data", "uploads/b/data"]  # committed and cancelled ones are not
    assert all(info.modified >= before for info in listed.values())
    assert sorted(i.key for i in store.writers("")) == ["other/c", "uploads/a/data", "uploads/b/data"]
    assert keys(store, "uploads/") == ["uploads/done/data"]  # open writers are never objects
    for info in store.writers("uploads/"):  # what a sweeper does with them
        store.writer(info.key, append=True).cancel()
    assert [i.key for i in store.writers("")] == ["other/c"]


def test_writer_without_append_starts_over(store: BlobStore) -> None:
    w = store.writer("k")
    w.write(Unseekable(PART + 5).read())
    w.close()
    w = store.writer("k")
    assert w.size == 0
    w.write(b"fresh")
    w.commit()
    assert store.get_bytes("k") == b"fresh"


def test_append_needs_an_upload(store: BlobStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.writer("never/started", append=True)


def test_presigned_url(store: BlobStore) -> None:
    store.put_bytes("charts/p.tgz", b"presigned bytes")
    url = store.presigned_url("charts/p.tgz", expires_in=60)
    if isinstance(store, FilesystemStore):
        assert url is None
        return
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned bytes"


# -- filesystem only ---------------------------------------------------------------------------------


def test_fs_symlinks_out_of_root_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = FilesystemStore(tmp_path / "root")
    (store.root / "evil").symlink_to(outside)
    (store.root / "link").symlink_to(outside / "secret")
    for key in ["evil/secret", "link"]:
        with pytest.raises(InvalidKey):
            store.get_bytes(key)
        with pytest.raises(InvalidKey):
            store.stat(key)
    with pytest.raises(InvalidKey):
        store.put_bytes("evil/planted", b"x")
    with pytest.raises(InvalidKey):
        store.writer("evil/planted")
    with pytest.raises(InvalidKey):
        list(store.list("evil/"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert keys(store) == []


def test_fs_no_temp_files_after_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FilesystemStore(tmp_path / "root")
    tmp_dir = store.root / "_staging" / "tmp"
    with pytest.raises(OSError, match="went away"):
        store.put("a/b", stream(3 * MiB, fail_at=2 * MiB))

    def crash(src: object, dst: object) -> None:
        raise OSError("disk pulled")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk pulled"):
            store.put_bytes("a/c", b"x")
    assert list(tmp_dir.iterdir()) == []
    assert not (store.root / "a" / "b").exists()
    assert keys(store) == []


def test_fs_purges_stale_temp_files(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "root")
    stale = store.root / "_staging" / "tmp" / "put-crashed"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = stale.with_name("put-in-flight")
    fresh.write_bytes(b"writing")
    assert store.purge_temp(3600) == 1
    assert not stale.exists()
    assert fresh.exists()


def test_fs_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "root")
    store.put_bytes("x/y/z", b"1")
    store.delete("x/y/z")
    assert sorted(p.name for p in store.root.iterdir()) == ["_staging"]


# -- S3 only -----------------------------------------------------------------------------------------


def pending_uploads(settings: S3Storage) -> str:
    """The bucket's multipart uploads, asked over plain HTTP (moto does not check signatures)."""
    with urllib.request.urlopen(f"{settings.endpoint_url}/{settings.bucket}?uploads", timeout=10) as r:
        body: bytes = r.read()
    return body.decode()


def test_s3_put_streams_with_bounded_memory(s3_settings: S3Storage) -> None:
    store = S3Store(s3_settings)
    store.put_bytes("warm-up", b"x")  # client, endpoint and pool set-up are not the put's memory
    size = 64 * MiB
    tracemalloc.start()
    try:
        assert store.put("blobs/huge", stream(size)) == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * PART, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB object"
    assert sha256_of(store.open("blobs/huge")) == Unseekable.digest(size)
    store.close()


def test_s3_abandoned_uploads_are_aborted(s3_settings: S3Storage) -> None:
    store = S3Store(s3_settings)
    with pytest.raises(OSError, match="went away"):
        store.put("k", stream(12 * MiB, fail_at=11 * MiB))
    w = store.writer("u")
    w.write(Unseekable(PART + 1).read())
    w.close()
    assert "<UploadId>" in pending_uploads(s3_settings)
    store.writer("u", append=True).cancel()
    assert "<UploadId>" not in pending_uploads(s3_settings)
    store.close()


def test_s3_prefix_scopes_every_key(s3_settings: S3Storage) -> None:
    scoped = S3Store(msgspec.structs.replace(s3_settings, prefix="/tenant/"))
    scoped.put_bytes("a/b", b"x")
    w = scoped.writer("a/w")
    w.write(b"y")
    w.close()
    assert keys(scoped) == ["a/b"]
    bare = S3Store(s3_settings)
    assert keys(bare) == ["tenant/_staging/uploads/a/w", "tenant/a/b"]
    assert bare.get_bytes("tenant/a/b") == b"x"
    scoped.close()
    bare.close()


# -- factory -----------------------------------------------------------------------------------------


def test_factory_picks_the_driver(tmp_path: Path, s3_settings: S3Storage) -> None:
    fs = open_store(Settings(data_dir=str(tmp_path), storage=FilesystemStorage(root="blobs")))
    assert isinstance(fs, FilesystemStore)
    assert fs.root == (tmp_path / "blobs").resolve()
    s3 = open_store(Settings(storage=s3_settings))
    assert isinstance(s3, S3Store)
    s3.close()
    with pytest.raises(Invalid):
        open_store(Settings(storage="gcs"))  # type: ignore[arg-type]  # what a bad loader might hand over


def test_factory_does_not_import_boto3_for_filesystem(tmp_path: Path) -> None:
    code = ("import sys; from appmarket.settings import Settings; from appmarket.storage.factory import "
            f"open_store; open_store(Settings(data_dir={str(tmp_path)!r})); "
            "sys.exit('boto3' in sys.modules or 'botocore' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
