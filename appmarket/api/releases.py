"""Releases under ``/api/v1/clusters/{cluster}/namespaces/{namespace}/releases``.

Changes answer 202 with the queued operation (follow it at ``/api/v1/operations/{id}``); dry runs and
diffs answer 200 with the rendered manifest. ``?conflict=refuse`` turns "queue behind the running
operation" into 409. An ``Idempotency-Key`` header (or body field) makes a retried submission return
the operation the first one created.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from appmarket.api.deps import PrincipalDep, ServicesDep
from appmarket.errors import Invalid
from appmarket.installer.schemas import (
    DryRunOut,
    OperationOut,
    RecoverRequest,
    ReleaseOut,
    ReleaseRequest,
    RollbackRequest,
)

Req = Request[Any, Any, Any]


def _refuse(conflict: str) -> bool:
    if conflict not in ("queue", "refuse"):
        raise Invalid("conflict must be queue or refuse")
    return conflict == "refuse"


def _keyed(request: Req, data: Any) -> Any:
    header = request.headers.get("idempotency-key")
    if header and not data.idempotency_key:
        return msgspec.structs.replace(data, idempotency_key=header)
    return data


def _answer(result: OperationOut | DryRunOut) -> Response[Any]:
    status = HTTP_202_ACCEPTED if isinstance(result, OperationOut) else 200
    return Response(msgspec.to_builtins(result), status_code=status)


class ReleaseController(Controller):
    path = "/clusters/{cluster:str}/namespaces/{namespace:str}/releases"
    tags = ["releases"]

    @get("/", sync_to_thread=True)
    def list_releases(self, cluster: FromPath[str], namespace: FromPath[str], services: ServicesDep,
                      principal: PrincipalDep) -> list[ReleaseOut]:
        return services.releases.list_releases(principal, cluster, namespace)

    @post("/{name:str}", sync_to_thread=True)
    def install(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                data: JSONBody[ReleaseRequest], request: Req, services: ServicesDep, principal: PrincipalDep,
                conflict: FromQuery[str] = "queue") -> Response[Any]:
        return _answer(services.releases.install(principal, cluster, namespace, name, _keyed(request, data),
                                                 _refuse(conflict)))

    @put("/{name:str}", sync_to_thread=True)
    def upgrade(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                data: JSONBody[ReleaseRequest], request: Req, services: ServicesDep, principal: PrincipalDep,
                conflict: FromQuery[str] = "queue") -> Response[Any]:
        return _answer(services.releases.upgrade(principal, cluster, namespace, name, _keyed(request, data),
                                                 _refuse(conflict)))

    @patch("/{name:str}", sync_to_thread=True)
    def upgrade_patch(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                      data: JSONBody[ReleaseRequest], request: Req, services: ServicesDep, principal: PrincipalDep,
                      conflict: FromQuery[str] = "queue") -> Response[Any]:
        """Same as PUT, but values are merged over the deployed ones unless reset_values is set."""
        if not data.reset_values:
            data = msgspec.structs.replace(data, reuse_values=True)
        return _answer(services.releases.upgrade(principal, cluster, namespace, name, _keyed(request, data),
                                                 _refuse(conflict)))

    @get("/{name:str}", sync_to_thread=True)
    def status(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str], services: ServicesDep,
               principal: PrincipalDep) -> ReleaseOut:
        return services.releases.get(principal, cluster, namespace, name)

    @get("/{name:str}/values", sync_to_thread=True)
    def values(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str], services: ServicesDep,
               principal: PrincipalDep, revision: FromQuery[int | None] = None,
               computed: FromQuery[bool] = False) -> dict[str, Any]:
        return services.releases.values(principal, cluster, namespace, name, revision=revision, computed=computed)

    @get("/{name:str}/manifest", sync_to_thread=True, media_type="text/plain")
    def manifest(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                 services: ServicesDep, principal: PrincipalDep, revision: FromQuery[int | None] = None) -> str:
        return services.releases.manifest(principal, cluster, namespace, name, revision)

    @get("/{name:str}/notes", sync_to_thread=True, media_type="text/plain")
    def notes(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str], services: ServicesDep,
              principal: PrincipalDep, revision: FromQuery[int | None] = None) -> str:
        return services.releases.notes(principal, cluster, namespace, name, revision)

    @get("/{name:str}/history", sync_to_thread=True)
    def history(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str], services: ServicesDep,
                principal: PrincipalDep) -> list[dict[str, Any]]:
        return services.releases.history(principal, cluster, namespace, name)

    @post("/{name:str}/rollback", sync_to_thread=True, status_code=HTTP_202_ACCEPTED)
    def rollback(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                 data: JSONBody[RollbackRequest], request: Req, services: ServicesDep, principal: PrincipalDep,
                 conflict: FromQuery[str] = "queue") -> OperationOut:
        return services.releases.rollback(principal, cluster, namespace, name, _keyed(request, data),
                                          _refuse(conflict))

    @post("/{name:str}/recover", sync_to_thread=True, status_code=HTTP_202_ACCEPTED)
    def recover(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str],
                data: JSONBody[RecoverRequest], request: Req, services: ServicesDep,
                principal: PrincipalDep) -> OperationOut:
        return services.releases.recover(principal, cluster, namespace, name, _keyed(request, data))

    @delete("/{name:str}", sync_to_thread=True, status_code=HTTP_202_ACCEPTED)
    def uninstall(self, cluster: FromPath[str], namespace: FromPath[str], name: FromPath[str], request: Req,
                  services: ServicesDep, principal: PrincipalDep, wait: FromQuery[bool] = True,
                  conflict: FromQuery[str] = "queue") -> OperationOut:
        return services.releases.uninstall(principal, cluster, namespace, name, wait=wait,
                                           idempotency_key=request.headers.get("idempotency-key"),
                                           refuse_if_busy=_refuse(conflict))
