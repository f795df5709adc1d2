"""Operations under ``/api/v1/operations``: list, inspect, cancel, and follow progress as SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from appmarket.api.deps import PrincipalDep, ServicesDep
from appmarket.installer.operations import FINAL
from appmarket.installer.schemas import EventOut, OperationOut
from appmarket.services import Services

POLL_SECONDS = 0.25


async def operation_events(services: Services, op_id: int, after: int) -> AsyncIterator[ServerSentEventMessage]:
    """Replay events after ``after``, then follow new ones until the operation is final."""
    store = services.releases.store
    while True:
        events = await anyio.to_thread.run_sync(store.events, op_id, after)
        for e in events:
            after = e.id or after
            payload = EventOut(id=after, at=e.at, kind=e.kind, message=e.message)
            yield ServerSentEventMessage(data=msgspec.json.encode(payload).decode(), event=e.kind, id=after)
        if not events:
            op, _ = await anyio.to_thread.run_sync(store.get, op_id)
            if op.state in FINAL:
                # Anything written just before the final state was read above; stop here.
                if not await anyio.to_thread.run_sync(store.events, op_id, after):
                    return
                continue
            await anyio.sleep(POLL_SECONDS)


class OperationController(Controller):
    path = "/operations"
    tags = ["operations"]

    @get("/", sync_to_thread=True)
    def list_operations(self, services: ServicesDep, principal: PrincipalDep, cluster: FromQuery[str | None] = None,
                        namespace: FromQuery[str | None] = None, release: FromQuery[str | None] = None,
                        op_state: Annotated[str | None, QueryParameter(name="state")] = None,
                        limit: FromQuery[int] = 100) -> list[OperationOut]:
        return services.releases.operations(principal, cluster=cluster, namespace=namespace, release=release,
                                            state=op_state, limit=min(max(limit, 1), 1000))

    @get("/{op_id:int}", sync_to_thread=True)
    def get_operation(self, op_id: FromPath[int], services: ServicesDep, principal: PrincipalDep) -> OperationOut:
        return services.releases.operation(principal, op_id)

    @post("/{op_id:int}/cancel", sync_to_thread=True)
    def cancel(self, op_id: FromPath[int], services: ServicesDep, principal: PrincipalDep) -> OperationOut:
        return services.releases.cancel(principal, op_id)

    @get("/{op_id:int}/events")
    async def events(self, op_id: FromPath[int], request: Request[Any, Any, Any], services: ServicesDep,
                     principal: PrincipalDep) -> ServerSentEvent:
        """Server-sent events: one ``data`` JSON object per event; ``Last-Event-ID`` resumes."""
        await anyio.to_thread.run_sync(services.releases.operation, principal, op_id)  # auth and 404
        try:
            after = int(request.headers.get("last-event-id", "0"))
        except ValueError:
            after = 0
        return ServerSentEvent(operation_events(services, op_id, after))
