"""Addons and their rollouts under ``/api/v1/addons`` and ``/api/v1/rollouts`` (problem+json errors).

``POST /api/v1/addons`` takes the addon file itself: JSON, or the YAML document ``appmarket addon apply``
reads (``Content-Type: application/yaml``), and answers 200 with the addon whether it created or updated it
(apply is idempotent). Rollout progress is also an SSE stream that replays events
after ``Last-Event-ID`` and ends when the rollout is final.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from litestar import Controller, Request, Router, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from appmarket.addons.schemas import AddonOut, AddonSpec, DriftReport, RolloutAction, RolloutOut
from appmarket.addons.store import FINAL
from appmarket.api.deps import PrincipalDep, ServicesDep, provide_principal
from appmarket.api.errors import PROBLEM_HANDLERS
from appmarket.auth.schemas import Principal
from appmarket.errors import Invalid
from appmarket.services import Services

Req = Request[Any, Any, Any]

ACTIONS = ("pause", "resume", "abort", "approve", "skip")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
POLL_SECONDS = 0.3
KEEPALIVE_SECONDS = 15.0


def _explain(exc: msgspec.MsgspecError) -> str:
    text = str(exc)
    if "Expected `str`, got `float`" in text or "Expected `str`, got `int`" in text:
        text += ' (YAML reads 1.10 as a number: quote it, e.g. version: "1.10")'
    return f"invalid addon: {text}"


def parse_spec(body: bytes, content_type: str = "application/json") -> AddonSpec:
    """The addon document as JSON or YAML; unknown fields and wrong types are refused with their path."""
    if not body.strip():
        raise Invalid("invalid addon: the document is empty")
    yaml_body = content_type.split(";", 1)[0].strip().lower() in YAML_TYPES
    try:
        if yaml_body:
            return msgspec.yaml.decode(body, type=AddonSpec)
        return msgspec.json.decode(body, type=AddonSpec)
    except msgspec.ValidationError as exc:
        raise Invalid(_explain(exc)) from exc
    except msgspec.DecodeError as exc:
        kind = "YAML" if yaml_body else "JSON"
        raise Invalid(f"invalid addon: not valid {kind}: {exc}") from exc


def parse_action(action: str, body: bytes) -> RolloutAction:
    if action not in ACTIONS:
        raise Invalid(f"unknown rollout action {action!r}: use one of {', '.join(ACTIONS)}")
    if not body.strip():
        return RolloutAction()
    try:
        return msgspec.json.decode(body, type=RolloutAction)
    except msgspec.MsgspecError as exc:
        raise Invalid(f"invalid rollout action body: {exc}") from exc


def _fingerprint(rollout: RolloutOut) -> str:
    """What a viewer would see change: rollout, wave and target states (engine steps without an event)."""
    parts = [rollout.state, str(rollout.current_wave), rollout.message]
    for wave in rollout.waves:
        parts.append(f"{wave.index}:{wave.state}:{wave.failures}")
        parts.extend(f"{t.cluster}:{t.state}:{t.revision}:{t.operation_id}:{t.health}" for t in wave.targets)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


async def rollout_events(services: Services, principal: Principal, rollout_id: int,
                         after: int) -> AsyncIterator[ServerSentEventMessage]:
    """Replay events after ``after``, then follow until the rollout is final.

    Events carry ids (``Last-Event-ID`` resumes); a ``progress`` message without id says that states
    changed without an event (a cluster turned healthy), and a comment keeps idle proxies from closing.
    """
    addons = services.addons
    seen = ""
    quiet_since = time.monotonic()
    while True:
        events = await anyio.to_thread.run_sync(addons.events, rollout_id, after)
        for e in events:
            after = max(after, e.id)
            yield ServerSentEventMessage(data=msgspec.json.encode(e).decode(), event=e.action, id=e.id)
        rollout = await anyio.to_thread.run_sync(addons.rollout, principal, rollout_id)
        mark = f"{_fingerprint(rollout)}:{after}"
        if mark != seen:
            seen = mark
            yield ServerSentEventMessage(data=msgspec.json.encode({"state": rollout.state}).decode(),
                                         event="progress")
            quiet_since = time.monotonic()
        if rollout.state in FINAL:
            # Anything written just before the final state was read above; stop unless more came in.
            if not await anyio.to_thread.run_sync(addons.events, rollout_id, after):
                return
            continue
        if events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ServerSentEventMessage(comment="keep-alive")
            quiet_since = time.monotonic()
        await anyio.sleep(POLL_SECONDS)


def last_event_id(request: Req) -> int:
    try:
        return max(0, int(request.headers.get("last-event-id", "0") or 0))
    except ValueError:
        return 0


class AddonController(Controller):
    path = "/addons"
    tags = ["addons"]

    @post("/", status_code=HTTP_200_OK)
    async def apply(self, request: Req, services: ServicesDep, principal: PrincipalDep) -> AddonOut:
        """Create or update an addon (admin); a changed chart, version or values starts a rollout."""
        spec = parse_spec(await request.body(), request.headers.get("content-type", "application/json"))
        return await anyio.to_thread.run_sync(services.addons.apply, principal, spec)

    @get("/", sync_to_thread=True)
    def list_addons(self, services: ServicesDep, principal: PrincipalDep) -> list[AddonOut]:
        return services.addons.list(principal)

    @get("/{name:str}", sync_to_thread=True)
    def get_addon(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> AddonOut:
        return services.addons.get(principal, name)

    @delete("/{name:str}", sync_to_thread=True, status_code=HTTP_202_ACCEPTED)
    def remove(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep,
               confirm: FromQuery[str] = "") -> AddonOut:
        """Uninstall the addon everywhere, then forget it; ``?confirm=<name>`` guards against slips."""
        return services.addons.delete(principal, name, confirm)

    @get("/{name:str}/rollout", sync_to_thread=True)
    def latest(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> RolloutOut:
        return services.addons.latest_rollout(principal, name)

    @get("/{name:str}/rollouts", sync_to_thread=True)
    def history(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep,
                limit: FromQuery[int] = 50) -> list[RolloutOut]:
        return services.addons.rollouts(principal, name, min(max(limit, 1), 500))

    @post("/{name:str}/rollout/{action:str}", status_code=HTTP_200_OK)
    async def act(self, name: FromPath[str], action: FromPath[str], request: Req, services: ServicesDep,
                  principal: PrincipalDep) -> RolloutOut:
        """pause | resume | abort | approve | skip (``{"clusters": [...]}``) on the latest rollout."""
        body = parse_action(action, await request.body())
        return await anyio.to_thread.run_sync(services.addons.act, principal, name, action, body)

    @get("/{name:str}/drift", sync_to_thread=True)
    def drift(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> DriftReport:
        """What the last check found, and whether it is current (``status``: "rollout in progress" while a
        rollout is active: no check runs then)."""
        return services.addons.drift(principal, name)

    @post("/{name:str}/drift", sync_to_thread=True, status_code=HTTP_200_OK)
    def check_drift(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> DriftReport:
        """Run the drift check now (not during a rollout: the report then says "rollout in progress")."""
        return services.addons.check_drift(principal, name)


class RolloutController(Controller):
    path = "/rollouts"
    tags = ["addons"]

    @get("/", sync_to_thread=True)
    def list_rollouts(self, services: ServicesDep, principal: PrincipalDep, addon: FromQuery[str | None] = None,
                      limit: FromQuery[int] = 50) -> list[RolloutOut]:
        return services.addons.rollouts(principal, addon, min(max(limit, 1), 500))

    @get("/{rollout_id:int}", sync_to_thread=True)
    def get_rollout(self, rollout_id: FromPath[int], services: ServicesDep, principal: PrincipalDep) -> RolloutOut:
        return services.addons.rollout(principal, rollout_id)

    @get("/{rollout_id:int}/events")
    async def events(self, rollout_id: FromPath[int], request: Req, services: ServicesDep,
                     principal: PrincipalDep) -> ServerSentEvent:
        """Server-sent events: one JSON ``RolloutEventOut`` per event; ``Last-Event-ID`` resumes."""
        await anyio.to_thread.run_sync(services.addons.rollout, principal, rollout_id)  # auth and 404
        return ServerSentEvent(rollout_events(services, principal, rollout_id, last_event_id(request)))


router = Router(
    path="/api/v1",
    route_handlers=[AddonController, RolloutController],
    dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    exception_handlers=PROBLEM_HANDLERS,
)
