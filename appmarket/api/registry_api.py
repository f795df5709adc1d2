"""The registry's JSON view for people and tools (management API, problem+json errors): a project's OCI
repositories, and each tag's digest, media type, size and platforms. Reading needs pull rights there."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath

from appmarket.api.deps import PrincipalDep, ServicesDep
from appmarket.errors import NotFound
from appmarket.repo.oci import codes, listing
from appmarket.repo.oci.schemas import RepositoryOut, TagOut


class RepositoryController(Controller):
    path = "/projects/{project:str}/repositories"
    tags = ["registry"]

    @get("/", sync_to_thread=True)
    def list_repositories(self, project: FromPath[str], services: ServicesDep,
                          principal: PrincipalDep) -> list[RepositoryOut]:
        return listing.repository_list(services.db, services.auth, principal, project)

    @get("/{rest:path}", sync_to_thread=True)
    def list_tags(self, project: FromPath[str], rest: FromPath[str], services: ServicesDep,
                  principal: PrincipalDep) -> list[TagOut]:
        """``/{repository...}/tags``: repository names within the project may contain slashes."""
        name, sep, tail = rest.strip("/").rpartition("/")
        if not sep or tail != "tags" or not name:
            raise NotFound(f"no such endpoint under repositories: {rest}", code=codes.NAME_UNKNOWN)
        return listing.repository_tags(services.db, services.auth, principal, project, name)
