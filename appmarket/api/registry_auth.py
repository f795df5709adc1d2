"""Registry token auth as docker, helm and oras expect it (the "token" flow of distribution).

``/v2`` answers 401 with ``WWW-Authenticate: Bearer realm=<base>/v2/token,service=appmarket,scope=...``;
the client fetches a token here (GET with Basic or anonymous, or the OAuth2 POST form) and retries with
it. A token carries the caller and the granted scope: what was asked, intersected with what the caller
may do. Basic credentials and API tokens are also accepted on /v2 directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, post

from appmarket.api.deps import ServicesDep, principal_from_header
from appmarket.auth.permissions import ANONYMOUS_PUBLIC, Action
from appmarket.auth.schemas import ANONYMOUS, Principal
from appmarket.db.models import Project
from appmarket.errors import AppMarketError, NotFound, Unauthorized
from appmarket.repo.oci import codes, tokens
from appmarket.repo.oci.reference import check_name
from appmarket.services import Services

SERVICE = "appmarket"
_OCI_TO_ACTION = {"pull": Action.PULL, "push": Action.PUSH, "delete": Action.DELETE}


class Caller(msgspec.Struct, frozen=True):
    """Who calls /v2, and the token claims when they came with a registry token."""

    principal: Principal
    claims: dict[str, Any] | None = None

    def require_scope(self, repository: str, action: str) -> None:
        """Anonymous tokens are held to their scope (401 asks for a new one). A signed-in caller's token
        also proves who they are, and the permission matrix decides: clients such as oras-py keep the
        first token they get (often from a scope-less login) for every later request.

        An anonymous caller asking to write gets its 401 here, before any lookup: the matrix never lets
        anonymous callers write, and every push starts with this round trip (the client then fetches a token).
        """
        if not self.principal.signed_in and action and _OCI_TO_ACTION[action] not in ANONYMOUS_PUBLIC:
            raise Unauthorized(f"authentication required to {action} on {repository}", code=codes.UNAUTHORIZED)
        if self.claims is None or not action or tokens.allowed(self.claims, repository, action):
            return
        if not self.principal.signed_in:
            raise Unauthorized(f"token does not grant {action} on {repository}", code=codes.UNAUTHORIZED)


def base_url(request: Request[Any, Any, Any], services: Services) -> str:
    if services.settings.public_url:
        return services.settings.public_url.rstrip("/")
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def challenge(request: Request[Any, Any, Any], services: Services, scope: str | None) -> str:
    value = f'Bearer realm="{base_url(request, services)}/v2/token",service="{SERVICE}"'
    return value + (f',scope="{scope}"' if scope else "")


def resolve_caller(services: Services, header: str | None) -> Caller:
    if header and header[:7].lower() == "bearer ":
        value = header[7:].strip()
        if tokens.is_jwt(value):
            claims = tokens.decode(value, services.registry.token_key, audience=SERVICE)
            try:
                principal = msgspec.convert(claims.get("amk"), Principal)
            except msgspec.ValidationError as exc:
                raise Unauthorized("malformed registry token") from exc
            return Caller(principal, claims)
    return Caller(principal_from_header(services.auth, header))


async def caller_async(request: Request[Any, Any, Any], services: Services) -> Caller:
    header = request.headers.get("authorization")
    if not header:
        return Caller(ANONYMOUS)
    if header[:7].lower() == "bearer " and tokens.is_jwt(header[7:].strip()):
        return resolve_caller(services, header)  # an HMAC and a JSON parse: no I/O, no thread hop
    return await anyio.to_thread.run_sync(resolve_caller, services, header)


def grant(services: Services, principal: Principal, scopes: list[str]) -> dict[str, set[str]]:
    """The intersection of what is asked and what the permission matrix allows, per repository."""
    granted: dict[str, set[str]] = {}
    projects: dict[str, Project | None] = {}
    for repository, asked in tokens.parse_scopes(scopes).items():
        try:
            project_name, _ = check_name(repository)
        except AppMarketError:
            continue
        if project_name not in projects:
            try:
                projects[project_name] = services.projects.lookup(project_name)
            except NotFound:
                projects[project_name] = None
        project = projects[project_name]
        if project is None:
            continue
        allowed = services.auth.project_actions(principal, project)
        granted[repository] = {a for a in asked if _OCI_TO_ACTION[a] in allowed}
    return granted


def issue(services: Services, principal: Principal, scopes: list[str]) -> dict[str, Any]:
    now = int(time.time())
    ttl = services.settings.oci.token_ttl_seconds
    claims = {"iss": SERVICE, "aud": SERVICE, "sub": principal.name, "iat": now, "nbf": now - 1,
              "exp": now + ttl, "access": tokens.access_claim(grant(services, principal, scopes)),
              "amk": msgspec.to_builtins(principal)}
    token = tokens.encode(claims, services.registry.token_key)
    issued = dt.datetime.fromtimestamp(now, dt.UTC).isoformat().replace("+00:00", "Z")
    return {"token": token, "access_token": token, "expires_in": ttl, "issued_at": issued}


def _unauthorized(message: str) -> Response[Any]:
    return Response(codes.envelope(codes.UNAUTHORIZED, message), status_code=codes.CODES[codes.UNAUTHORIZED].status,
                    headers={"WWW-Authenticate": 'Basic realm="AppMarket"'})


def _authenticate_and_issue(services: Services, header: str | None, scopes: list[str]) -> Response[Any]:
    try:
        principal = principal_from_header(services.auth, header)
    except Unauthorized as exc:
        return _unauthorized(exc.message)
    return Response(issue(services, principal, scopes))


async def _token_response(services: Services, header: str | None, scopes: list[str]) -> Response[Any]:
    """Authenticate the credentials (none: anonymous) and issue a token for the allowed part of ``scopes``
    (one thread hop for both: every push starts with this request)."""
    return await anyio.to_thread.run_sync(_authenticate_and_issue, services, header, scopes)


@get("/v2/token", include_in_schema=False)
async def token_get(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    scopes = request.query_params.getall("scope", [])
    header = request.headers.get("authorization")
    return await _token_response(services, header, scopes)


@post("/v2/token", include_in_schema=False, status_code=200)
async def token_post(request: Request[Any, Any, Any], services: ServicesDep) -> Response[Any]:
    form = await request.form()
    grant_type = str(form.get("grant_type", ""))
    scopes = [str(x) for x in form.getall("scope")] if "scope" in form else []
    header = None
    if grant_type == "password":
        raw = f"{form.get('username', '')}:{form.get('password', '')}".encode()
        header = "Basic " + base64.b64encode(raw).decode()
    elif grant_type == "refresh_token":
        header = "Bearer " + str(form.get("refresh_token", ""))
    elif request.headers.get("authorization"):
        header = request.headers.get("authorization")
    return await _token_response(services, header, scopes)
