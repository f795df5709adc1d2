"""Kubernetes API errors as data, rendered once into `Status` bodies.

Clients (client-go, the Python client) branch on `reason` and `code`, so every failure the
emulator returns goes through `ApiError` rather than ad-hoc JSON.
"""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


class ApiError(Exception):
    """A failed API call; `status_body()` is what goes on the wire."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JsonDict | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status_body(self) -> JsonDict:
        body: JsonDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(group: str, plural: str, name: str) -> JsonDict:
    details: JsonDict = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    msg = f'{_qualified(group, plural)} "{name}" not found'
    return ApiError(404, "NotFound", msg, details=_details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    msg = f'{_qualified(group, plural)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, details=_details(group, plural, name))


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    msg = f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": {why}'
    return ApiError(409, "Conflict", msg, details=_details(group, plural, name))


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with one cause per (field, message), like apiserver validation."""
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    msg = f'{kind}.{group} "{name}" is invalid: {text}' if group else f'{kind} "{name}" is invalid: {text}'
    details = _details(group, kind, name)
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": message, "field": field}
        for field, message in causes
    ]
    return ApiError(422, "Invalid", msg, details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(verb: str, what: str) -> ApiError:
    msg = f"the server does not allow this method on the requested resource: {verb} {what}"
    return ApiError(405, "MethodNotAllowed", msg)


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    msg = ("the body of the request was in an unknown format - accepted media types include: "
           f"application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type!r}")
    return ApiError(415, "UnsupportedMediaType", msg)


def not_implemented(what: str) -> ApiError:
    """The honest answer for anything the emulator does not model (never a silent success)."""
    return ApiError(501, "NotImplemented", f"kubeapi test server does not emulate {what}")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)
