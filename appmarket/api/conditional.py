"""Conditional GETs (RFC 9110 section 13.1.2): content-addressed bytes never change, so a client that
already holds them (its ``If-None-Match`` names the digest's ETag) gets 304 and no body."""

from __future__ import annotations


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison, ``*`` matches anything)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
