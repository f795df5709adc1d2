"""Cluster registration under ``/api/v1/clusters``; credentials go in, never out."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar import delete as delete_route
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from appmarket.api.deps import PrincipalDep, ServicesDep
from appmarket.installer.schemas import ClusterCreate, ClusterLabels, ClusterOut, ClusterUpdate, ReleaseOut


class ClusterController(Controller):
    path = "/clusters"
    tags = ["clusters"]

    @post("/", sync_to_thread=True)
    def register(self, data: JSONBody[ClusterCreate], services: ServicesDep, principal: PrincipalDep) -> ClusterOut:
        return services.clusters.register(principal, data)

    @get("/", sync_to_thread=True)
    def list_clusters(self, services: ServicesDep, principal: PrincipalDep) -> list[ClusterOut]:
        return services.clusters.list(principal)

    @get("/{name:str}", sync_to_thread=True)
    def get_cluster(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> ClusterOut:
        return services.clusters.get(principal, name)

    @patch("/{name:str}", sync_to_thread=True)
    def update(self, name: FromPath[str], data: JSONBody[ClusterUpdate], services: ServicesDep,
               principal: PrincipalDep) -> ClusterOut:
        """Change ``atomic_default`` (rollback on failure when a request does not say) and/or labels."""
        return services.clusters.update(principal, name, data)

    @get("/{name:str}/releases", sync_to_thread=True)
    def releases(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> list[ReleaseOut]:
        """Releases AppMarket knows in the cluster, every namespace."""
        return services.releases.list_releases(principal, name)

    @patch("/{name:str}/labels", sync_to_thread=True)
    def label(self, name: FromPath[str], data: JSONBody[ClusterLabels], services: ServicesDep,
              principal: PrincipalDep) -> ClusterOut:
        return services.clusters.set_labels(principal, name, data.labels)

    @post("/{name:str}/probe", sync_to_thread=True)
    def probe(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> ClusterOut:
        services.auth.require_admin(principal)
        return services.clusters.refresh(name)

    @delete_route("/{name:str}", status_code=HTTP_204_NO_CONTENT, sync_to_thread=True)
    def remove(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> None:
        services.clusters.delete(principal, name)
