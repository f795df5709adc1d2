"""Safe streaming reader of a Helm chart archive (``.tgz``).

The upload is read exactly once, front to back. The raw bytes pass through a hashing counter (sha256
and size of the *compressed* package, which is what Helm's index and OCI digests name), then through
our own gzip decompressor, and only then into :mod:`tarfile` in stream mode (``r|``). Decompressing
ourselves, rather than letting tarfile do it, means every decompressed byte (tar headers, PAX and
GNU long-name records included) is counted against ``max_unpacked_bytes`` and the compression ratio
the moment it is produced (in slices of at most 64 KiB), so a gzip bomb is stopped about one megabyte
in; it also lets us refuse trailing garbage after the gzip stream, which Helm's Go gzip reader refuses
too. Concatenated gzip members are one stream, as in Go.

Nothing is extracted to disk. Only the few files AppMarket shows or parses are kept in memory; every
other member is read through (so its size counts) and dropped. Refusals raise ``Invalid``, or
``TooLarge`` for size limits, with a message naming the problem and the member.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from typing import BinaryIO

import msgspec

from appmarket.errors import Invalid, TooLarge
from appmarket.settings import ChartLimits

_CHUNK = 64 * 1024
# Below this many decompressed bytes the ratio is not judged: tiny archives of repetitive YAML
# legitimately compress very well, and a megabyte is harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
# Chart.yaml is copied into every index entry; a chart never needs more than this.
MAX_CHART_YAML_BYTES = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_KEPT = {
    "Chart.yaml": "chart_yaml",
    "values.yaml": "values_yaml",
    "values.schema.json": "values_schema_json",
    "requirements.yaml": "requirements_yaml",
    "Chart.lock": "chart_lock",
}


class ChartArchive(msgspec.Struct, frozen=True):
    """What AppMarket keeps of a chart archive; file contents are raw bytes (UTF-8 BOM not stripped)."""

    top: str
    """The single top-level directory (Helm requires it to be the chart name)."""
    digest: str
    """``sha256:<hex>`` of the compressed archive as uploaded."""
    size: int
    """Compressed size in bytes."""
    unpacked_size: int
    """Decompressed tar stream size (headers and padding included)."""
    member_count: int
    chart_yaml: bytes | None = None
    values_yaml: bytes | None = None
    values_schema_json: bytes | None = None
    requirements_yaml: bytes | None = None
    chart_lock: bytes | None = None
    readme_name: str | None = None
    readme: bytes | None = None
    templates: list[str] = msgspec.field(default_factory=list)
    """Paths of regular files under ``templates/``, relative to the chart (``templates/x.yaml``)."""
    subcharts: list[str] = msgspec.field(default_factory=list)
    """Entries of ``charts/``: sub-chart directory names and packaged ``*.tgz`` names."""


class _HashingReader:
    """Counts and hashes the compressed bytes; refuses to read past ``max_archive_bytes``."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.sha256 = hashlib.sha256()
        self.count = 0

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        if data:
            self.count += len(data)
            if self.count > self._limit:
                raise TooLarge(f"chart archive is larger than the limit of {self._limit} bytes")
            self.sha256.update(data)
        return data


class _GunzipReader:
    """A file-like object yielding the decompressed tar stream, enforcing size and ratio limits."""

    def __init__(self, source: _HashingReader, limits: ChartLimits, head: bytes) -> None:
        self._src = source
        self._limits = limits
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = head  # compressed input not yet given to the decompressor
        self._buf = bytearray()  # decompressed output not yet read
        self._eof = False
        self.produced = 0

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self._buf) < n) and not self._eof:
            self._fill()
        size = len(self._buf) if n < 0 else min(n, len(self._buf))
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def _fill(self) -> None:
        if not self._pending:
            self._pending = self._src.read(_CHUNK)
            if not self._pending:
                if not self._z.eof:
                    raise Invalid("chart archive is truncated: the gzip stream ends early")
                self._eof = True
                return
        if self._z.eof:
            # Another gzip member follows (valid, and Go's reader reads it too) or garbage does.
            while len(self._pending) < len(_GZIP_MAGIC) and (more := self._src.read(_CHUNK)):
                self._pending += more
            if not self._pending.startswith(_GZIP_MAGIC):
                raise Invalid("chart archive has trailing data after the gzip stream")
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = self._z.decompress(self._pending, _CHUNK)
        except zlib.error as exc:
            raise Invalid(f"chart archive is not valid gzip data: {exc}") from exc
        self._pending = self._z.unconsumed_tail or self._z.unused_data
        self._account(len(chunk))
        self._buf += chunk

    def _account(self, produced: int) -> None:
        self.produced += produced
        lim = self._limits
        if self.produced > lim.max_unpacked_bytes:
            raise TooLarge(f"chart archive unpacks to more than the limit of {lim.max_unpacked_bytes} bytes")
        consumed = max(self._src.count - len(self._pending), 1)
        if self.produced > RATIO_FLOOR_BYTES and self.produced > lim.max_compression_ratio * consumed:
            raise TooLarge(f"chart archive expands more than {lim.max_compression_ratio} times "
                           "(a compression bomb?)")

    def drain(self) -> None:
        """Read to the end of the input so the digest covers every byte and trailing data is seen."""
        while not self._eof:
            self._buf.clear()
            self._fill()


def _check_name(raw_name: str) -> list[str]:
    """The path segments of a member name, or ``Invalid`` if the name is unsafe."""
    name = raw_name
    if not name:
        raise Invalid("chart archive has a member with an empty name")
    if "\\" in name:
        raise Invalid(f"chart archive member {name!r} contains a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise Invalid(f"chart archive member {name!r} contains a control character")
    if any("\ud800" <= c <= "\udfff" for c in name):
        raise Invalid(f"chart archive member {name!r} is not valid UTF-8")
    if name.startswith("/"):
        raise Invalid(f"chart archive member {name!r} has an absolute path")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise Invalid(f"chart archive member {name!r} escapes the chart directory")
    if any(p in ("", ".") for p in parts):
        raise Invalid(f"chart archive member {name!r} has an empty or '.' path segment")
    return parts


def _check_type(member: tarfile.TarInfo) -> None:
    name = member.name
    if member.issym():
        raise Invalid(f"chart archive member {name!r} is a symbolic link (charts may not contain links)")
    if member.islnk():
        raise Invalid(f"chart archive member {name!r} is a hard link (charts may not contain links)")
    if member.ischr() or member.isblk() or member.isfifo():
        raise Invalid(f"chart archive member {name!r} is a device or fifo")
    if member.issparse():
        raise Invalid(f"chart archive member {name!r} is a sparse file")
    if not (member.isreg() or member.isdir()):
        raise Invalid(f"chart archive member {name!r} has unsupported tar type {member.type!r}")


class _Collector:
    """Walks the members, applying the per-member rules and keeping what AppMarket needs."""

    def __init__(self, limits: ChartLimits) -> None:
        self.limits = limits
        self.top: str | None = None
        self.seen: set[str] = set()
        self.count = 0
        self.declared = 0
        self.kept: dict[str, bytes] = {}
        self.readme_name: str | None = None
        self.readme: bytes | None = None
        self.templates: list[str] = []
        self.subcharts: set[str] = set()

    def add(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        lim = self.limits
        self.count += 1
        if self.count > lim.max_members:
            raise TooLarge(f"chart archive has more than {lim.max_members} members")
        parts = _check_name(member.name)
        _check_type(member)
        key = "/".join(parts)
        if key in self.seen:
            raise Invalid(f"chart archive member {member.name!r} appears more than once")
        self.seen.add(key)
        if len(parts) == 1 and not member.isdir():
            raise Invalid(f"chart archive member {member.name!r} is a file at the top level "
                          "(files belong inside the chart directory)")
        if self.top is None:
            self.top = parts[0]
        elif parts[0] != self.top:
            raise Invalid(f"chart archive member {member.name!r} is outside the chart directory "
                          f"{self.top!r} (an archive holds exactly one chart directory)")
        if member.isdir():
            self._note_dir(parts[1:])
            return
        if member.size > lim.max_member_bytes:
            raise TooLarge(f"chart archive member {member.name!r} is larger than the limit of "
                           f"{lim.max_member_bytes} bytes")
        self.declared += member.size
        if self.declared > lim.max_unpacked_bytes:
            raise TooLarge(f"chart archive unpacks to more than the limit of {lim.max_unpacked_bytes} bytes")
        self._note_file(tf, member, parts[1:])

    def _note_dir(self, rel: list[str]) -> None:
        if len(rel) >= 2 and rel[0] == "charts" and not rel[1].startswith(("_", ".")):
            self.subcharts.add(rel[1])

    def _note_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, rel: list[str]) -> None:
        path = "/".join(rel)
        if rel[0] == "templates" and len(rel) > 1:
            self.templates.append(path)
        elif rel[0] == "charts" and (len(rel) > 2 or rel[-1].endswith(".tgz")):
            self._note_dir(rel)
        if len(rel) != 1:
            return
        if path in _KEPT:
            if path == "Chart.yaml" and member.size > MAX_CHART_YAML_BYTES:
                raise TooLarge(f"chart archive member {member.name!r} is larger than the limit of "
                               f"{MAX_CHART_YAML_BYTES} bytes for Chart.yaml")
            self.kept[_KEPT[path]] = _read_member(tf, member)
        elif path.lower().startswith("readme") and self._prefer_readme(path):
            self.readme_name = path
            self.readme = _read_member(tf, member)

    def _prefer_readme(self, path: str) -> bool:
        """README.md wins over other README* files; otherwise the first one seen stays."""
        if self.readme_name is None:
            return True
        return path.lower() == "readme.md" and self.readme_name.lower() != "readme.md"


def _read_member(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tf.extractfile(member)
    if f is None:  # pragma: no cover - only regular files reach here
        raise Invalid(f"chart archive member {member.name!r} cannot be read")
    data = f.read()
    if len(data) != member.size:
        raise Invalid(f"chart archive member {member.name!r} is truncated")
    return data


def read_chart_archive(stream: BinaryIO, limits: ChartLimits, *,
                       expected_digest: str | None = None) -> ChartArchive:
    """Read and check a chart ``.tgz`` from ``stream``; see the module docstring for the rules.

    The digest is always computed while reading (it costs nothing extra). ``expected_digest``
    (``sha256:<hex>``), when a caller already knows it, e.g. from an OCI layer descriptor, is
    compared with it and a mismatch is refused.
    """
    src = _HashingReader(stream, limits.max_archive_bytes)
    head = src.read(2)
    if head != _GZIP_MAGIC:
        raise Invalid("chart archive is not gzip-compressed (expected a .tgz file)")
    gz = _GunzipReader(src, limits, head)
    collector = _Collector(limits)
    try:
        # typeshed types ``fileobj`` as IO[bytes]; stream mode only ever calls read().
        with tarfile.open(fileobj=gz, mode="r|") as tf:  # type: ignore[call-overload]
            for member in tf:
                collector.add(tf, member)
        gz.drain()
    except tarfile.TarError as exc:
        raise Invalid(f"chart archive is not a valid tar archive: {exc}") from exc
    except (EOFError, zlib.error) as exc:
        raise Invalid(f"chart archive is damaged: {exc}") from exc
    if collector.top is None:
        raise Invalid("chart archive is empty")
    digest = "sha256:" + src.sha256.hexdigest()
    if expected_digest is not None and expected_digest != digest:
        raise Invalid(f"chart archive digest {digest} does not match the expected {expected_digest}")
    if "chart_yaml" not in collector.kept:
        raise Invalid(f"chart archive has no {collector.top}/Chart.yaml")
    return ChartArchive(
        top=collector.top, digest=digest, size=src.count, unpacked_size=gz.produced,
        member_count=collector.count, readme_name=collector.readme_name, readme=collector.readme,
        templates=sorted(collector.templates), subcharts=sorted(collector.subcharts), **collector.kept,
    )
