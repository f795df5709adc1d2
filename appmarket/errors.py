"""Domain errors shared by every package.

They say what went wrong in domain terms only; each HTTP surface (ChartMuseum API, OCI /v2, management
API) and the CLI maps them to its own format in one place.
"""

from __future__ import annotations


class AppMarketError(Exception):
    """Base class; ``code`` is a stable machine-readable reason a surface may expose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(AppMarketError):
    code = "not_found"


class Conflict(AppMarketError):
    code = "conflict"


class Invalid(AppMarketError):
    code = "invalid"


class TooLarge(Invalid):
    code = "too_large"


class Unauthorized(AppMarketError):
    """No or bad credentials: the caller should authenticate."""

    code = "unauthorized"


class Forbidden(AppMarketError):
    """Authenticated (or anonymous) caller lacks the permission."""

    code = "forbidden"


class Upstream(AppMarketError):
    """A dependency (storage, helm, a cluster) failed."""

    code = "upstream"
