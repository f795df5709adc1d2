"""Creating, listing and deleting projects; membership management."""

from __future__ import annotations

import msgspec
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from appmarket.auth.permissions import Action, Role
from appmarket.auth.schemas import MemberOut, Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.models import ChartVersion, Membership, Project, User
from appmarket.errors import Conflict, Invalid, NotFound
from appmarket.projects.names import validate_project_name
from appmarket.projects.schemas import ProjectCreate, ProjectOut, ProjectUpdate


def to_out(project: Project, chart_count: int = 0) -> ProjectOut:
    return ProjectOut(name=project.name, visibility=project.visibility,  # type: ignore[arg-type]
                      description=project.description, created_at=project.created_at,
                      chart_count=chart_count)


def get_project(s: Session, name: str) -> Project:
    project = s.exec(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFound(f"project {name!r} not found")
    return project


class ProjectService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self._db = db
        self._auth = auth

    def lookup(self, name: str) -> Project:
        with self._db.read() as s:
            return get_project(s, name)

    def create(self, principal: Principal, data: ProjectCreate) -> ProjectOut:
        if not principal.signed_in or principal.kind == "robot":
            self._auth.require_admin(principal)
        validate_project_name(data.name)
        try:
            with self._db.write() as s:
                project = Project(name=data.name, visibility=data.visibility, description=data.description)
                s.add(project)
                s.flush()
                if principal.user_id is not None and not principal.is_admin:
                    assert project.id is not None
                    s.add(Membership(project_id=project.id, user_id=principal.user_id, role=Role.ADMIN))
        except IntegrityError as exc:
            raise Conflict(f"project {data.name!r} already exists") from exc
        return to_out(project)

    def list_visible(self, principal: Principal) -> list[ProjectOut]:
        with self._db.read() as s:
            counts: dict[int | None, int] = dict(s.exec(
                select(ChartVersion.project_id, func.count()).group_by(col(ChartVersion.project_id))).all())
            projects = s.exec(select(Project).order_by(Project.name)).all()
        out = []
        for p in projects:
            if Action.PULL in self._auth.project_actions(principal, p):
                out.append(to_out(p, counts.get(p.id, 0)))
        return out

    def get(self, principal: Principal, name: str) -> ProjectOut:
        project = self.lookup(name)
        self._auth.require(principal, project, Action.PULL)
        with self._db.read() as s:
            count = s.exec(select(func.count()).select_from(ChartVersion).where(
                ChartVersion.project_id == project.id)).one()
        return to_out(project, count)

    def update(self, principal: Principal, name: str, data: ProjectUpdate) -> ProjectOut:
        project = self.lookup(name)
        self._auth.require(principal, project, Action.ADMIN)
        with self._db.write() as s:
            row = get_project(s, name)
            if not isinstance(data.visibility, msgspec.UnsetType):
                row.visibility = data.visibility
            if not isinstance(data.description, msgspec.UnsetType):
                row.description = data.description
            # Visibility changes what anonymous callers may read: make index caches look again.
            row.index_rev += 1
            s.add(row)
        return to_out(row)

    def delete(self, principal: Principal, name: str) -> None:
        project = self.lookup(name)
        self._auth.require(principal, project, Action.ADMIN)
        with self._db.write() as s:
            row = get_project(s, name)
            for cv in s.exec(select(ChartVersion).where(ChartVersion.project_id == row.id)).all():
                s.delete(cv)
            for m in s.exec(select(Membership).where(Membership.project_id == row.id)).all():
                s.delete(m)
            s.delete(row)

    def set_member(self, principal: Principal, name: str, username: str, role: str) -> MemberOut:
        project = self.lookup(name)
        self._auth.require(principal, project, Action.ADMIN)
        try:
            role_value = Role(role)
        except ValueError as exc:
            raise Invalid(f"unknown role {role!r}; one of {[r.value for r in Role]}") from exc
        with self._db.write() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise NotFound(f"no user {username!r}")
            m = s.exec(select(Membership).where(Membership.project_id == project.id,
                                                Membership.user_id == user.id)).first()
            if m is None:
                assert project.id is not None and user.id is not None
                m = Membership(project_id=project.id, user_id=user.id, role=role_value)
            m.role = role_value
            s.add(m)
        return MemberOut(username=username, role=role_value)

    def list_members(self, principal: Principal, name: str) -> list[MemberOut]:
        project = self.lookup(name)
        self._auth.require(principal, project, Action.PULL)
        with self._db.read() as s:
            rows = s.exec(select(Membership, User).where(Membership.project_id == project.id,
                                                          Membership.user_id == User.id)).all()
        return [MemberOut(username=u.username, role=m.role) for m, u in rows]
