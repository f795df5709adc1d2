"""Build chart packages (``.tgz``) in memory for tests, including deliberately broken ones.

``make_chart_tgz()`` gives a valid chart; its keyword arguments bend it: replace Chart.yaml, add or
drop files, append raw ``Member``s of any tar type (symlinks, hard links, devices, bad paths,
duplicates), change the top-level directory, or append bytes after the gzip stream.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

DEFAULT_VALUES = "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.25\"\n"
DEFAULT_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  replicas: {{ .Values.replicaCount | quote }}
"""


@dataclass
class Member:
    """One raw tar member; ``name`` is the full path in the archive (not prefixed with the chart dir)."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    size: int | None = None
    """Declared size when it should differ from ``len(data)`` (a lying header)."""
    pax: dict[str, str] = field(default_factory=dict)


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, produced on demand (for bombs without holding them in memory)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        k = min(len(buf), self.left)
        buf[:k] = bytes(k)
        self.left -= k
        return k


def chart_yaml_text(name: str, version: str, *, api_version: str = "v2", description: str = "A test chart",
                    app_version: str | None = "1.0.0", **extra: object) -> str:
    doc: dict[str, object] = {"apiVersion": api_version, "name": name, "version": version,
                              "description": description}
    if app_version is not None:
        doc["appVersion"] = app_version
    doc.update(extra)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def add_member(tf: tarfile.TarFile, m: Member) -> None:
    info = tarfile.TarInfo(m.name)
    info.type = m.type
    info.mode = m.mode
    info.mtime = 1_700_000_000
    info.linkname = m.linkname
    info.pax_headers = dict(m.pax)
    if m.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    if m.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        info.size = len(m.data) if m.size is None else m.size
        tf.addfile(info, io.BytesIO(m.data.ljust(info.size, b"\0")[: info.size]))
    else:
        tf.addfile(info)


def tar_bytes(members: Sequence[Member], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in members:
            add_member(tf, m)
    return buf.getvalue()


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def make_chart_tgz(name: str = "demo", version: str = "0.1.0", *,
                   files: Mapping[str, str | bytes | None] | None = None,
                   extra_members: Sequence[Member] = (),
                   chart_yaml: str | bytes | None = None,
                   values_yaml: str | bytes | None = DEFAULT_VALUES,
                   description: str = "A test chart",
                   api_version: str = "v2",
                   app_version: str | None = "1.0.0",
                   top: str | None = None,
                   dir_entries: bool = False,
                   padding: int = 0,
                   trailing: bytes = b"",
                   fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A chart package as ``helm package`` would make it, bent by the keyword arguments.

    ``files`` maps paths relative to the chart directory to contents, on top of the defaults
    (Chart.yaml, values.yaml, ``templates/configmap.yaml``); a ``None`` content removes a default.
    ``padding`` adds that many incompressible bytes (``files/padding.bin``) to make a big package.
    """
    top = name if top is None else top
    contents: dict[str, str | bytes | None] = {
        "Chart.yaml": chart_yaml if chart_yaml is not None else chart_yaml_text(
            name, version, api_version=api_version, description=description, app_version=app_version),
        "values.yaml": values_yaml,
        "templates/configmap.yaml": DEFAULT_TEMPLATE,
    }
    if padding:
        contents["files/padding.bin"] = os.urandom(padding)
    contents.update(files or {})
    members: list[Member] = []
    if dir_entries:
        dirs = {top} | {f"{top}/{p.rsplit('/', 1)[0]}" for p in contents if "/" in p}
        members += [Member(d, type=tarfile.DIRTYPE, mode=0o755) for d in sorted(dirs)]
    for path, data in contents.items():
        if data is not None:
            members.append(Member(f"{top}/{path}", data.encode() if isinstance(data, str) else data))
    members += extra_members
    return gzip_bytes(tar_bytes(members, fmt=fmt)) + trailing


def make_bomb_tgz(unpacked: int, *, name: str = "demo") -> bytes:
    """A valid chart whose ``files/zeros`` member is ``unpacked`` zero bytes (compresses ~1000:1)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        add_member(tf, Member(f"{name}/Chart.yaml", chart_yaml_text(name, "0.1.0").encode()))
        info = tarfile.TarInfo(f"{name}/files/zeros")
        info.size = unpacked
        tf.addfile(info, _Zeros(unpacked))
    return buf.getvalue()


def fake_signature_packet(fingerprint: bytes = bytes(range(20)), key_id: bytes | None = None) -> bytes:
    """A structurally valid (cryptographically meaningless) v4 OpenPGP signature packet."""
    hashed = bytes([22, 33, 4]) + fingerprint
    unhashed = bytes([9, 16]) + (key_id if key_id is not None else fingerprint[-8:])
    body = bytes([4, 0x01, 1, 10]) + len(hashed).to_bytes(2, "big") + hashed \
        + len(unhashed).to_bytes(2, "big") + unhashed + b"\xab\xcd" + b"\x00\x08\xff"
    return bytes([0xC2, len(body)]) + body


def _crc24(data: bytes) -> bytes:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return (crc & 0xFFFFFF).to_bytes(3, "big")


def make_prov(chart_yaml: str | Mapping[str, object], files: Mapping[str, str], *, hash_name: str = "SHA512",
              signature: bytes | None = None, crc: bool = True) -> bytes:
    """A provenance file in the layout ``helm package --sign`` writes (pkg/provenance/sign.go).

    ``chart_yaml`` is the signed metadata (a mapping is dumped with sorted keys, as Helm does);
    ``files`` maps file names to ``sha256:<hex>``. The signature is fake unless one is given.
    """
    meta = chart_yaml if isinstance(chart_yaml, str) else yaml.safe_dump(dict(chart_yaml), sort_keys=True)
    message = meta + "\n...\n" + yaml.safe_dump({"files": dict(files)})
    escaped = "\n".join(f"- {line}" if line.startswith("-") else line for line in message.split("\n"))
    sig = fake_signature_packet() if signature is None else signature
    b64 = base64.b64encode(sig).decode()
    armor = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    checksum = f"\n={base64.b64encode(_crc24(sig)).decode()}" if crc else ""
    return (f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: {hash_name}\n\n{escaped}\n"
            f"-----BEGIN PGP SIGNATURE-----\n\n{armor}{checksum}\n-----END PGP SIGNATURE-----\n").encode()
