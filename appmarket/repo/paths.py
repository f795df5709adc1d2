"""Every storage key AppMarket uses is built here, and only here.

Layout (under the store's root or S3 prefix)::

    blobs/
      sha256/<2 hex>/<64 hex>          content-addressed bytes: chart packages, provenance files,
      sha512/<2 hex>/<128 hex>         OCI layers, configs and manifests; written once, never edited
    uploads/
      <upload id>/data                 in-progress OCI upload sessions (resumable writers); one folder
                                       each, so removing one never races another's directory fsync

Charts, manifests and tags are rows in the database that point at blobs by digest, so the same chart
package is one object whether it arrived through the ChartMuseum API or as an OCI layer.
"""

from __future__ import annotations

import re

from appmarket.errors import Invalid

_DIGEST = re.compile(r"(sha256):([a-f0-9]{64})|(sha512):([a-f0-9]{128})")

BLOBS_PREFIX = "blobs/"
UPLOADS_PREFIX = "uploads/"


def blob_key(digest: str) -> str:
    """The key of a blob named by a full digest (``sha256:<hex>``)."""
    m = _DIGEST.fullmatch(digest)
    if m is None:
        raise Invalid(f"unsupported or malformed digest {digest!r}")
    algo, hexpart = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return f"{BLOBS_PREFIX}{algo}/{hexpart[:2]}/{hexpart}"


def upload_key(upload_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", upload_id):
        raise Invalid(f"malformed upload id {upload_id!r}")
    return f"{UPLOADS_PREFIX}{upload_id}/data"


def upload_id_of(key: str) -> str | None:
    """The upload id a key under ``uploads/`` belongs to (GC sweeps staged bytes by it), else None."""
    m = re.fullmatch(rf"{UPLOADS_PREFIX}([A-Za-z0-9_-]{{8,64}})/data", key)
    return m.group(1) if m else None


def digest_of_key(key: str) -> str | None:
    """The digest a key under ``blobs/`` names (GC finds objects with no row by it), else None."""
    m = re.fullmatch(rf"{BLOBS_PREFIX}(sha256|sha512)/([a-f0-9]{{2}})/([a-f0-9]+)", key)
    if m is None or not m.group(3).startswith(m.group(2)):
        return None
    digest = f"{m.group(1)}:{m.group(3)}"
    return digest if _DIGEST.fullmatch(digest) else None
