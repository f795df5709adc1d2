"""Helm provenance files (``<chart>.tgz.prov``): structure checks, from bytes.

A provenance file is an OpenPGP clearsigned message (RFC 4880 section 7) whose signed text is the
chart's Chart.yaml, a YAML document-end line ``...`` and a YAML mapping of file digests, as Helm's
``pkg/provenance/sign.go`` writes it::

    -----BEGIN PGP SIGNED MESSAGE-----
    Hash: SHA512

    apiVersion: v2
    name: demo
    version: 0.1.0
    ...
    files:
      demo-0.1.0.tgz: sha256:<hex>
    -----BEGIN PGP SIGNATURE-----

    <base64 signature packet>
    -----END PGP SIGNATURE-----

What is checked here: the clearsign framing (Hash header, dash-escaping, an armored block holding an
OpenPGP signature packet, its CRC-24 when present), that the signed text parses as Helm's message
block, and that it names this chart's file name, digest, name and version.

What is NOT checked: the cryptographic signature. Verifying it needs the publisher's public key and a
trust decision (a keyring), which is out of scope for this pure module; :class:`ProvenanceInfo` keeps
the exact signed text, the signature packet and the issuer key id so a later step can do it (as
``helm verify`` does against a keyring).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import msgspec

from appmarket.errors import Invalid
from appmarket.repo.chart_meta import load_yaml
from appmarket.repo.chart_package import ChartPackage

MAX_PROVENANCE_BYTES = 1024 * 1024
_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_SIG_BEGIN = "-----BEGIN PGP SIGNATURE-----"
_SIG_END = "-----END PGP SIGNATURE-----"
_HASHES = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "SHA3-256", "SHA3-512"}
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ARMOR_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]*: .*")


class ProvenanceInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    """Chart name in the signed Chart.yaml."""
    version: str
    files: dict[str, str]
    """File name -> ``sha256:<hex>`` as signed."""
    hash_algorithms: list[str]
    """The clearsign ``Hash`` header values, e.g. ``["SHA512"]``."""
    signed_text: str
    """The exact signed text (dash-escaping undone), for a later signature check."""
    signature: bytes
    """The de-armored OpenPGP signature packet(s)."""
    key_id: str | None = None
    """Issuer fingerprint or key id (upper-case hex) from the signature packet, if it names one."""
    metadata: dict[str, Any] = {}
    """The signed Chart.yaml mapping."""


def check_provenance(prov: bytes, chart: ChartPackage) -> ProvenanceInfo:
    """Parse ``prov`` and check that it is about exactly this chart package (see module docstring)."""
    info = parse_provenance(prov)
    md = chart.metadata
    if (info.name, info.version) != (md.name, md.version):
        raise Invalid(f"provenance file is for chart {info.name} {info.version}, not {md.name} {md.version}")
    signed = info.files.get(chart.filename)
    if signed is None:
        raise Invalid(f"provenance file does not list {chart.filename}")
    if signed != chart.digest:
        raise Invalid(f"provenance file names digest {signed} for {chart.filename}, "
                      f"but the package digest is {chart.digest}")
    return info


def parse_provenance(prov: bytes) -> ProvenanceInfo:
    """Parse a provenance file without reference to a chart; ``Invalid`` describes what is wrong."""
    if len(prov) > MAX_PROVENANCE_BYTES:
        raise Invalid(f"provenance file is larger than {MAX_PROVENANCE_BYTES} bytes")
    try:
        text = prov.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("provenance file is not UTF-8 text") from exc
    lines = [line.rstrip("\r") for line in text.split("\n")]
    hashes, body, rest = _split_clearsigned(lines)
    signature = _dearmor(rest)
    signed_text = "\n".join(body)
    name, version, files, metadata = _parse_message(signed_text)
    return ProvenanceInfo(name=name, version=version, files=files, hash_algorithms=hashes,
                          signed_text=signed_text, signature=signature, key_id=_issuer(signature),
                          metadata=metadata)


def _split_clearsigned(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or lines[i].strip() != _BEGIN:
        raise Invalid(f"provenance file is not an OpenPGP clearsigned message (expected {_BEGIN!r})")
    i += 1
    hashes: list[str] = []
    while i < len(lines) and lines[i].strip():
        key, _, value = lines[i].partition(": ")
        if key != "Hash":
            raise Invalid(f"provenance file has an unexpected clearsign header {lines[i][:80]!r}")
        hashes += [h.strip().upper() for h in value.split(",")]
        i += 1
    if not hashes:
        raise Invalid("provenance file has no 'Hash:' header after the clearsign start line")
    if unknown := [h for h in hashes if h not in _HASHES]:
        raise Invalid(f"provenance file names an unsupported hash algorithm: {', '.join(unknown)}")
    body: list[str] = []
    for j in range(i + 1, len(lines)):
        line = lines[j]
        if line == _SIG_BEGIN:
            return hashes, body, lines[j + 1:]
        if line.startswith("- "):
            line = line[2:]
        elif line.startswith("-"):
            raise Invalid("provenance file has a line starting with '-' that is not dash-escaped: "
                          f"{line[:80]!r}")
        body.append(line)
    raise Invalid(f"provenance file has no signature block ({_SIG_BEGIN!r})")


def _dearmor(lines: list[str]) -> bytes:
    i = 0
    while i < len(lines) and _ARMOR_HEADER.fullmatch(lines[i]):
        i += 1
    if i >= len(lines) or lines[i].strip():
        raise Invalid("provenance signature block is malformed (expected a blank line after its headers)")
    data: list[str] = []
    crc: str | None = None
    for j in range(i + 1, len(lines)):
        line = lines[j].strip()
        if line == _SIG_END:
            if any(x.strip() for x in lines[j + 1:]):
                raise Invalid("provenance file has data after the signature block")
            return _decode_signature("".join(data), crc)
        if not line:
            continue
        if line.startswith("=") and len(line) == 5:
            crc = line[1:]
        elif crc is not None:
            raise Invalid("provenance signature block has data after its checksum line")
        else:
            data.append(line)
    raise Invalid(f"provenance signature block has no end line ({_SIG_END!r})")


def _decode_signature(b64: str, crc: str | None) -> bytes:
    try:
        raw = base64.b64decode(b64, validate=True)
        expected = base64.b64decode(crc, validate=True) if crc is not None else None
    except (binascii.Error, ValueError) as exc:
        raise Invalid("provenance signature block is not valid base64") from exc
    if not raw:
        raise Invalid("provenance signature block is empty")
    if expected is not None and _crc24(raw).to_bytes(3, "big") != expected:
        raise Invalid("provenance signature block fails its CRC-24 checksum")
    tag, _ = _packet(raw)
    if tag != 2:
        raise Invalid(f"provenance signature block holds an OpenPGP packet of type {tag}, not a signature")
    return raw


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _packet(raw: bytes) -> tuple[int, bytes]:
    """The tag and body of the first OpenPGP packet (partial lengths: the first chunk only)."""
    b0 = raw[0]
    if not b0 & 0x80:
        raise Invalid("provenance signature block does not hold an OpenPGP packet")
    if b0 & 0x40:  # new format
        tag, o1 = b0 & 0x3F, raw[1] if len(raw) > 1 else 0
        if o1 < 192:
            return tag, raw[2:2 + o1]
        if o1 < 224:
            return tag, raw[3:3 + ((o1 - 192) << 8) + raw[2] + 192]
        if o1 == 255:
            return tag, raw[6:6 + int.from_bytes(raw[2:6], "big")]
        return tag, raw[2:2 + (1 << (o1 & 0x1F))]
    tag, ltype = (b0 >> 2) & 0x0F, b0 & 0x03
    if ltype == 3:
        return tag, raw[1:]
    size = 1 << ltype
    return tag, raw[1 + size:1 + size + int.from_bytes(raw[1:1 + size], "big")]


def _issuer(raw: bytes) -> str | None:
    """Issuer fingerprint (subpacket 33) or key id (16, or the v3 field) of a signature packet."""
    _, body = _packet(raw)
    if not body:
        return None
    if body[0] == 3:
        return body[7:15].hex().upper() if len(body) >= 15 else None
    width = 2 if body[0] == 4 else 4  # v5/v6 use four-octet subpacket area lengths
    pos, areas = 4, []
    for _ in range(2):
        n = int.from_bytes(body[pos:pos + width], "big")
        areas.append(body[pos + width:pos + width + n])
        pos += width + n
    found: dict[int, str] = {}
    for area in areas:
        for kind, data in _subpackets(area):
            if kind == 33 and len(data) > 1:
                found.setdefault(33, data[1:].hex().upper())
            elif kind == 16 and len(data) == 8:
                found.setdefault(16, data.hex().upper())
    return found.get(33) or found.get(16)


def _subpackets(area: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(area):
        o1 = area[pos]
        if o1 < 192:
            n, pos = o1, pos + 1
        elif o1 < 255:
            n, pos = ((o1 - 192) << 8) + area[pos + 1] + 192 if pos + 1 < len(area) else 0, pos + 2
        else:
            n, pos = int.from_bytes(area[pos + 1:pos + 5], "big"), pos + 5
        if n == 0 or pos + n > len(area):
            break
        out.append((area[pos] & 0x7F, area[pos + 1:pos + n]))
        pos += n
    return out


def _parse_message(text: str) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    parts = text.split("\n...\n")
    if len(parts) != 2:
        raise Invalid("provenance message must be Chart.yaml, a '...' line and the file digests")
    meta = load_yaml(parts[0].encode(), "provenance Chart.yaml")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) \
            or not isinstance(meta.get("version"), str):
        raise Invalid("provenance Chart.yaml must be a mapping with a name and a version")
    sums = load_yaml(parts[1].encode(), "provenance file digests")
    files = sums.get("files") if isinstance(sums, dict) else None
    if not isinstance(files, dict) or not files:
        raise Invalid("provenance file digests must be a 'files:' mapping of file name to sha256 digest")
    for fname, digest in files.items():
        if not isinstance(fname, str) or not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise Invalid(f"provenance file digest for {fname!r} is not 'sha256:<64 hex>'")
    return meta["name"], meta["version"], dict(files), dict(meta)
