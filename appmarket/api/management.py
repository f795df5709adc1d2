"""The management API under ``/api/v1``: projects, members, robots, users, tokens; clusters, releases,
operations; a project's OCI repositories and tags."""

from __future__ import annotations

from litestar import Controller, Router, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from appmarket.api.clusters import ClusterController
from appmarket.api.deps import PrincipalDep, ServicesDep, provide_principal
from appmarket.api.errors import PROBLEM_HANDLERS
from appmarket.api.operations import OperationController
from appmarket.api.registry_api import RepositoryController
from appmarket.api.releases import ReleaseController
from appmarket.auth.schemas import (
    MemberOut,
    MemberSet,
    RobotCreate,
    RobotIssued,
    RobotOut,
    TokenCreate,
    TokenIssued,
    TokenOut,
    UserCreate,
    UserOut,
)
from appmarket.projects.schemas import ProjectCreate, ProjectOut, ProjectUpdate


class ProjectController(Controller):
    path = "/projects"
    tags = ["projects"]

    @post("/", sync_to_thread=True)
    def create(self, data: JSONBody[ProjectCreate], services: ServicesDep, principal: PrincipalDep) -> ProjectOut:
        return services.projects.create(principal, data)

    @get("/", sync_to_thread=True)
    def list_projects(self, services: ServicesDep, principal: PrincipalDep) -> list[ProjectOut]:
        return services.projects.list_visible(principal)

    @get("/{name:str}", sync_to_thread=True)
    def get_project(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> ProjectOut:
        return services.projects.get(principal, name)

    @patch("/{name:str}", sync_to_thread=True)
    def update(
        self, name: FromPath[str], data: JSONBody[ProjectUpdate], services: ServicesDep, principal: PrincipalDep
    ) -> ProjectOut:
        return services.projects.update(principal, name, data)

    @delete("/{name:str}", status_code=HTTP_204_NO_CONTENT, sync_to_thread=True)
    def remove(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> None:
        services.projects.delete(principal, name)
        services.index.forget(name)

    @get("/{name:str}/members", sync_to_thread=True)
    def members(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> list[MemberOut]:
        return services.projects.list_members(principal, name)

    @put("/{name:str}/members", sync_to_thread=True)
    def set_member(
        self, name: FromPath[str], data: JSONBody[MemberSet], services: ServicesDep, principal: PrincipalDep
    ) -> MemberOut:
        return services.projects.set_member(principal, name, data.username, data.role)

    @post("/{name:str}/robots", sync_to_thread=True)
    def create_robot(
        self, name: FromPath[str], data: JSONBody[RobotCreate], services: ServicesDep, principal: PrincipalDep
    ) -> RobotIssued:
        return services.accounts.create_robot(principal, name, data)

    @get("/{name:str}/robots", sync_to_thread=True)
    def robots(self, name: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> list[RobotOut]:
        return services.accounts.list_robots(principal, name)

    @delete("/{name:str}/robots/{robot:str}", status_code=HTTP_204_NO_CONTENT, sync_to_thread=True)
    def delete_robot(
        self, name: FromPath[str], robot: FromPath[str], services: ServicesDep, principal: PrincipalDep
    ) -> None:
        services.accounts.delete_robot(principal, name, robot)


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @post("/", sync_to_thread=True)
    def create(self, data: JSONBody[UserCreate], services: ServicesDep, principal: PrincipalDep) -> UserOut:
        return services.accounts.create_user(principal, data)

    @get("/", sync_to_thread=True)
    def list_users(self, services: ServicesDep, principal: PrincipalDep) -> list[UserOut]:
        return services.accounts.list_users(principal)

    @delete("/{username:str}", status_code=HTTP_204_NO_CONTENT, sync_to_thread=True)
    def delete_user(self, username: FromPath[str], services: ServicesDep, principal: PrincipalDep) -> None:
        services.accounts.delete_user(principal, username)

    @get("/me", sync_to_thread=True)
    def me(self, services: ServicesDep, principal: PrincipalDep) -> UserOut:
        return services.accounts.me(principal)

    @post("/me/tokens", sync_to_thread=True)
    def create_token(self, data: JSONBody[TokenCreate], services: ServicesDep, principal: PrincipalDep) -> TokenIssued:
        return services.accounts.create_token(principal, data)

    @get("/me/tokens", sync_to_thread=True)
    def tokens(self, services: ServicesDep, principal: PrincipalDep) -> list[TokenOut]:
        return services.accounts.list_tokens(principal)

    @delete("/me/tokens/{token_id:int}", status_code=HTTP_204_NO_CONTENT, sync_to_thread=True)
    def revoke(self, token_id: FromPath[int], services: ServicesDep, principal: PrincipalDep) -> None:
        services.accounts.revoke_token(principal, token_id)


router = Router(
    path="/api/v1",
    route_handlers=[ProjectController, UserController, ClusterController, ReleaseController, OperationController,
                    RepositoryController],
    dependencies={"principal": Provide(provide_principal, sync_to_thread=True)},
    exception_handlers=PROBLEM_HANDLERS,
)
