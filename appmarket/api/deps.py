"""Dependencies every controller uses: the service graph and the calling principal."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from appmarket.auth.schemas import ANONYMOUS, Principal
from appmarket.auth.service import AuthService
from appmarket.errors import Unauthorized
from appmarket.services import Services


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def principal_from_header(auth: AuthService, header: str | None) -> Principal:
    """Basic (username + password or token) or Bearer (token); no header means anonymous."""
    if not header:
        return ANONYMOUS
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return auth.authenticate_bearer(value)
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("malformed Basic credentials") from exc
        username, sep, secret = decoded.partition(":")
        if not sep:
            raise Unauthorized("malformed Basic credentials")
        return auth.authenticate_basic(username, secret)
    raise Unauthorized("unsupported authorization scheme")


def provide_principal(request: Request[Any, Any, Any], services: ServicesDep) -> Principal:
    principal = principal_from_header(services.auth, request.headers.get("authorization"))
    request.scope["appmarket_principal"] = principal  # type: ignore[typeddict-unknown-key]
    return principal


async def principal_async(request: Request[Any, Any, Any], services: Services) -> Principal:
    """For async handlers: anonymous needs no I/O, credentials are checked in a worker thread."""
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS
    return await anyio.to_thread.run_sync(principal_from_header, services.auth, header)


# Handler parameter types: explicit dependency markers (Litestar 3 drops inferred dependencies).
ServicesDep = NamedDependency[Services]
PrincipalDep = NamedDependency[Principal]
