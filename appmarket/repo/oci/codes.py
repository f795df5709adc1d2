"""OCI error codes as one data table (distribution-spec "Error Codes"), plus HTTP-only extras.

Services raise domain errors carrying one of these codes (``NotFound(..., code=BLOB_UNKNOWN)``); the
/v2 surface renders the spec's envelope from this table. Nothing here knows about HTTP frameworks.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class OciCode(NamedTuple):
    status: int
    message: str


BLOB_UNKNOWN = "BLOB_UNKNOWN"
BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
DIGEST_INVALID = "DIGEST_INVALID"
MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
MANIFEST_INVALID = "MANIFEST_INVALID"
MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
NAME_INVALID = "NAME_INVALID"
NAME_UNKNOWN = "NAME_UNKNOWN"
SIZE_INVALID = "SIZE_INVALID"
UNAUTHORIZED = "UNAUTHORIZED"
DENIED = "DENIED"
UNSUPPORTED = "UNSUPPORTED"
TOOMANYREQUESTS = "TOOMANYREQUESTS"
# Not in the spec's table; distribution's own codes (registry/api/v2/errors.go), which clients know.
RANGE_INVALID = "RANGE_INVALID"  # 416: an unsatisfiable Range, a chunk out of order
PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"  # 400: ``n`` is not a non-negative integer
TOO_LARGE = "SIZE_INVALID_413"  # SIZE_INVALID rendered with 413 (oversize manifest)

CODES: dict[str, OciCode] = {
    BLOB_UNKNOWN: OciCode(404, "blob unknown to registry"),
    BLOB_UPLOAD_INVALID: OciCode(400, "blob upload invalid"),
    BLOB_UPLOAD_UNKNOWN: OciCode(404, "blob upload unknown to registry"),
    DIGEST_INVALID: OciCode(400, "provided digest did not match uploaded content"),
    MANIFEST_BLOB_UNKNOWN: OciCode(404, "manifest references a manifest or blob unknown to registry"),
    MANIFEST_INVALID: OciCode(400, "manifest invalid"),
    MANIFEST_UNKNOWN: OciCode(404, "manifest unknown to registry"),
    NAME_INVALID: OciCode(400, "invalid repository name"),
    NAME_UNKNOWN: OciCode(404, "repository name not known to registry"),
    SIZE_INVALID: OciCode(400, "provided length did not match content length"),
    UNAUTHORIZED: OciCode(401, "authentication required"),
    DENIED: OciCode(403, "requested access to the resource is denied"),
    UNSUPPORTED: OciCode(405, "the operation is unsupported"),
    TOOMANYREQUESTS: OciCode(429, "too many requests"),
    RANGE_INVALID: OciCode(416, "requested range not satisfiable"),
    PAGINATION_NUMBER_INVALID: OciCode(400, "invalid number of results requested"),
    TOO_LARGE: OciCode(413, "payload too large"),
}


def wire_code(code: str) -> str:
    """The code as clients see it (the 413 variant is SIZE_INVALID on the wire)."""
    return SIZE_INVALID if code == TOO_LARGE else code


def envelope(code: str, message: str | None = None, detail: Any = None) -> dict[str, Any]:
    """The spec's error body for one code: every /v2 and token error is rendered through this."""
    return {"errors": [{"code": wire_code(code), "message": message or CODES[code].message, "detail": detail}]}
