"""Objects as files under one root directory.

Every write lands in a temp file on the same filesystem, is fsynced, renamed over the key and the
directory fsynced, so a reader (or a crash) sees the old object or the new one, never a mix.
Partial data never lives at a key: temp files and resumable-upload staging files sit in a reserved
``_staging/`` tree that ``list`` skips and keys may not name::

    <root>/
      _staging/
        tmp/<random>            a ``put`` in flight (removed on failure, swept when a day old)
        uploads/<sha256(key)>   a resumable writer's bytes until ``commit`` renames it over the key
        uploads/<sha256(key)>.key   that writer's key (so abandoned writers can be listed by key)
      <key>                     the objects themselves
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from appmarket.errors import Conflict, Invalid
from appmarket.storage.base import CHUNK_SIZE, InvalidKey, ObjectInfo, ObjectNotFound, check_key

STAGING = "_staging"
TMP_MAX_AGE = 24 * 3600.0


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (the rename itself is not, until this)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key=key, size=st.st_size, modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))


class FilesystemWriter:
    """A resumable writer whose bytes live in a staging file until ``commit`` renames it over the key.

    The staging file outlives ``close``, so any process sharing the root can resume it.
    """

    def __init__(self, key: str, target: Path, staging: Path, append: bool,
                 publish: Callable[[Path, Path], None]) -> None:
        self._key, self._target, self._staging, self._publish = key, target, staging, publish
        if append:
            try:
                self._size = staging.stat().st_size
            except FileNotFoundError as exc:
                raise ObjectNotFound(f"{key}: no upload in progress to append to") from exc
        else:
            staging.write_bytes(b"")  # start over, and leave something to resume even if nothing comes
            _key_file(staging).write_text(key)
            self._size = 0
        self._fh: BinaryIO | None = None  # opened on the first write, so an idle writer holds no fd
        self._closed = self._done = False

    @property
    def size(self) -> int:
        return self._size

    def _check_live(self) -> None:
        if self._done:
            raise ValueError(f"writer for {self._key} was already committed or cancelled")

    def write(self, data: bytes) -> int:
        self._check_live()
        if self._closed:
            raise ValueError(f"writer for {self._key} is closed")
        if self._fh is None:
            self._fh = self._staging.open("ab")
        n = self._fh.write(data)
        self._size += n
        return n

    def close(self) -> None:
        self._closed = True
        if self._fh is not None:
            fh, self._fh = self._fh, None
            with fh:
                fh.flush()
                os.fsync(fh.fileno())

    def commit(self) -> None:
        self._check_live()
        self.close()
        self._publish(self._staging, self._target)
        _key_file(self._staging).unlink(missing_ok=True)
        self._done = True

    def cancel(self) -> None:
        self._closed = self._done = True
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()
        self._staging.unlink(missing_ok=True)
        _key_file(self._staging).unlink(missing_ok=True)


def _key_file(staging: Path) -> Path:
    return staging.with_name(staging.name + ".key")


class FilesystemStore:
    """The default driver: a directory tree, confined to ``root`` (symlinks out of it are refused)."""

    name: str = "filesystem"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self._tmp = self.root / STAGING / "tmp"
        self._uploads = self.root / STAGING / "uploads"
        for d in (self._tmp, self._uploads):
            d.mkdir(parents=True, exist_ok=True)
        self.purge_temp(TMP_MAX_AGE)

    # -- paths -------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The real path of ``key``, refusing keys that name staging or resolve outside the root."""
        check_key(key)
        if key.split("/", 1)[0] == STAGING:
            raise InvalidKey(f"storage key {key!r} is reserved")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"storage key {key!r} escapes the store")
        if path.relative_to(self.root).parts[0] == STAGING:
            raise InvalidKey(f"storage key {key!r} is reserved")
        return path

    def _file(self, key: str) -> tuple[Path, os.stat_result]:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"{key}: no such object") from exc
        if not S_ISREG(st.st_mode):
            raise ObjectNotFound(f"{key}: no such object")
        return path, st

    def _makedirs(self, directory: Path) -> None:
        """Create ``directory`` and missing parents, fsyncing each parent that gained an entry."""
        missing: builtins.list[Path] = []
        d = directory
        while not d.is_dir() and d != self.root:
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            try:
                d.mkdir(exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise Conflict(f"{d.relative_to(self.root)} is an object, not a folder") from exc
            _fsync_dir(d.parent)

    def _publish(self, src: Path, dst: Path) -> None:
        """Atomically rename ``src`` over ``dst`` and make it durable."""
        for attempt in range(3):
            try:
                self._makedirs(dst.parent)
                os.replace(src, dst)
                break
            except FileNotFoundError:
                # A concurrent delete pruned the (empty) parent between mkdir and rename: retry.
                if attempt == 2 or not src.exists():
                    raise
            except (IsADirectoryError, NotADirectoryError) as exc:
                raise Conflict(f"{dst.relative_to(self.root)} collides with a folder") from exc
        _fsync_dir(dst.parent)

    def _prune(self, directory: Path) -> None:
        """Remove now-empty folders up to the root so deleted trees do not linger."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def purge_temp(self, max_age: float) -> int:
        """Delete temp files older than ``max_age`` seconds (left by a crash mid-``put``)."""
        cutoff, removed = time.time() - max_age, 0
        for entry in os.scandir(self._tmp):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed

    # -- contract ----------------------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> int:
        target = self._path(key)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(name)
        try:
            written = 0
            with os.fdopen(fd, "wb") as fh:
                while chunk := stream.read(CHUNK_SIZE):
                    fh.write(chunk)
                    written += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if size is not None and written != size:
                raise Invalid(f"{key}: expected {size} bytes, stream had {written}")
            self._publish(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written

    def put_bytes(self, key: str, data: bytes) -> int:
        return self.put(key, io.BytesIO(data), len(data))

    def open(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0) or chunk_size <= 0:
            raise Invalid(f"{key}: negative offset or length, or no chunk size")
        path, _ = self._file(key)  # raise ObjectNotFound now, not at the first chunk
        return self._chunks(key, path, offset, length, chunk_size)

    @staticmethod
    def _chunks(key: str, path: Path, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
        try:
            fh = path.open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{key}: no such object") from exc
        with fh:
            fh.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                chunk = fh.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def stat(self, key: str) -> ObjectInfo:
        return _info(key, self._file(key)[1])

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path, _ = self._file(key)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{key}: no such object") from exc
        _fsync_dir(path.parent)
        self._prune(path.parent)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix:
            self._path(prefix.rstrip("/"))  # validates and refuses staging / escaping prefixes
        base = self.root / prefix[: prefix.rfind("/") + 1]
        if not base.resolve().is_relative_to(self.root) or not base.is_dir():
            return
        yield from self._walk(base, prefix)

    def _walk(self, directory: Path, prefix: str) -> Iterator[ObjectInfo]:
        """Keys in sorted order; symlinks are skipped, subtrees outside ``prefix`` pruned."""
        with os.scandir(directory) as it:
            # "a/" sorts after "a.txt", as S3 (and therefore every driver) lists keys in code point order.
            entries = sorted(it, key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in entries:
            rel = Path(entry.path).relative_to(self.root).as_posix()
            if entry.is_symlink() or rel == STAGING:
                continue
            if entry.is_dir(follow_symlinks=False):
                if (rel + "/").startswith(prefix) or prefix.startswith(rel + "/"):
                    yield from self._walk(Path(entry.path), prefix)
            elif entry.is_file(follow_symlinks=False) and rel.startswith(prefix):
                yield _info(rel, entry.stat(follow_symlinks=False))

    def move(self, src: str, dst: str) -> None:
        src_path, _ = self._file(src)
        dst_path = self._path(dst)
        if src_path == dst_path:
            return
        self._publish(src_path, dst_path)
        _fsync_dir(src_path.parent)
        self._prune(src_path.parent)

    def writers(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix:
            self._path(prefix.rstrip("/"))  # same validation as ``list``
        for entry in sorted(os.scandir(self._uploads), key=lambda e: e.name):
            if not entry.name.endswith(".key") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                key = Path(entry.path).read_text()
                st = (self._uploads / entry.name.removesuffix(".key")).stat()
            except FileNotFoundError:  # committed or cancelled meanwhile
                continue
            if key.startswith(prefix):
                yield _info(key, st)

    def writer(self, key: str, append: bool = False) -> FilesystemWriter:
        target = self._path(key)
        staging = self._uploads / hashlib.sha256(key.encode()).hexdigest()
        return FilesystemWriter(key, target, staging, append, self._publish)

    def presigned_url(self, key: str, expires_in: int = 300) -> str | None:
        self._path(key)
        return None

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""
