"""OCI reference grammar: repository names, tags and digests (distribution-spec "Pulling manifests")."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from appmarket.errors import Invalid
from appmarket.repo.oci import codes

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
HEX_LENGTHS = {"sha256": 64, "sha512": 128}
MAX_NAME = 255


def check_name(name: str) -> tuple[str, str]:
    """Validate a repository name; return (project, rest). The first component is the project."""
    if len(name) > MAX_NAME or not NAME_RE.fullmatch(name) or "/" not in name:
        raise Invalid(f"invalid repository name {name!r} (want <project>/<name>)", code=codes.NAME_INVALID)
    project, _, rest = name.partition("/")
    return project, rest


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise Invalid(f"invalid tag {tag!r}", code=codes.MANIFEST_INVALID)
    return tag


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_digest(digest: str) -> str:
    """A digest this registry can verify: sha256 or sha512 with lowercase hex of the right length."""
    if not DIGEST_RE.fullmatch(digest):
        raise Invalid(f"malformed digest {digest!r}", code=codes.DIGEST_INVALID)
    algo, _, hexpart = digest.partition(":")
    want = HEX_LENGTHS.get(algo)
    if want is None:
        raise Invalid(f"unsupported digest algorithm {algo!r}", code=codes.DIGEST_INVALID)
    if len(hexpart) != want or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise Invalid(f"malformed {algo} digest {digest!r}", code=codes.DIGEST_INVALID)
    return digest


def check_reference(reference: str) -> str:
    """A tag or a digest, as it appears in ``/v2/<name>/manifests/<reference>``."""
    return check_digest(reference) if is_digest(reference) else check_tag(reference)


def new_hasher(algorithm: str) -> Any:
    return hashlib.new(algorithm)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def chart_tag(version: str) -> str:
    """Helm's mapping of a SemVer version to an OCI tag ('+' is not allowed in tags)."""
    return version.replace("+", "_")
