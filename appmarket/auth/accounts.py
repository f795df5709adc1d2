"""Managing users, their API tokens, and project robot accounts."""

from __future__ import annotations

import datetime as dt

from sqlmodel import col, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import (
    Principal,
    RobotCreate,
    RobotIssued,
    RobotOut,
    TokenCreate,
    TokenIssued,
    TokenOut,
    UserCreate,
    UserOut,
)
from appmarket.auth.service import AuthService, robot_username, validate_robot_actions
from appmarket.db.engine import Database
from appmarket.db.models import ApiToken, Membership, Project, Robot, User, utcnow
from appmarket.errors import Conflict, Invalid, NotFound, Unauthorized
from appmarket.projects.names import COMPONENT
from appmarket.projects.service import get_project


def _expiry(days: int | None) -> dt.datetime | None:
    if days is None:
        return None
    if not 1 <= days <= 3650:
        raise Invalid("expires_in_days must be between 1 and 3650")
    return utcnow() + dt.timedelta(days=days)


def _token_out(r: ApiToken) -> TokenOut:
    return TokenOut(id=r.id or 0, name=r.name, prefix=r.prefix, created_at=r.created_at,
                    expires_at=r.expires_at, last_used_at=r.last_used_at)


def user_out(u: User) -> UserOut:
    assert u.id is not None
    return UserOut(id=u.id, username=u.username, is_admin=u.is_admin, created_at=u.created_at)


class AccountService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self._db = db
        self._auth = auth

    def create_user(self, principal: Principal, data: UserCreate) -> UserOut:
        self._auth.require_admin(principal)
        if COMPONENT.fullmatch(data.username) is None:
            raise Invalid(f"invalid username {data.username!r}")
        if data.password is not None and len(data.password) < 8:
            raise Invalid("password must be at least 8 characters")
        return user_out(self._auth.create_user(data.username, data.password, data.is_admin))

    def list_users(self, principal: Principal) -> list[UserOut]:
        self._auth.require_admin(principal)
        with self._db.read() as s:
            return [user_out(u) for u in s.exec(select(User).order_by(User.username)).all()]

    def delete_user(self, principal: Principal, username: str) -> None:
        """Remove an account with its tokens and memberships; a browser session of it ends at once
        (sessions are re-read from the database on every request). Not yourself, not the last admin."""
        self._auth.require_admin(principal)
        with self._db.write() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise NotFound(f"no user {username!r}")
            if user.id == principal.user_id:
                raise Conflict("you cannot delete your own account")
            if user.is_admin and len(s.exec(select(User.id).where(col(User.is_admin).is_(True))).all()) <= 1:
                raise Conflict("the last administrator cannot be deleted")
            for tok in s.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all():
                s.delete(tok)
            for m in s.exec(select(Membership).where(Membership.user_id == user.id)).all():
                s.delete(m)
            s.flush()
            s.delete(user)
        self._auth.forget(username)

    def tokens_by_user(self, principal: Principal) -> dict[str, list[TokenOut]]:
        """Every user's API tokens (never their secrets), for administrators."""
        self._auth.require_admin(principal)
        with self._db.read() as s:
            rows = s.exec(select(User.username, ApiToken).join(ApiToken, col(ApiToken.user_id) == User.id)
                          .order_by(col(User.username), col(ApiToken.created_at))).all()
        out: dict[str, list[TokenOut]] = {}
        for username, r in rows:
            out.setdefault(username, []).append(_token_out(r))
        return out

    def me(self, principal: Principal) -> UserOut:
        if principal.user_id is None:
            raise Unauthorized("sign in as a user")
        with self._db.read() as s:
            user = s.get(User, principal.user_id)
        if user is None:
            raise NotFound("user no longer exists")
        return user_out(user)

    def create_token(self, principal: Principal, data: TokenCreate) -> TokenIssued:
        if principal.user_id is None:
            raise Unauthorized("sign in as a user to create tokens")
        row, token = self._auth.issue_user_token(principal.user_id, data.name, _expiry(data.expires_in_days))
        assert row.id is not None
        return TokenIssued(id=row.id, name=row.name, token=token, expires_at=row.expires_at)

    def list_tokens(self, principal: Principal) -> list[TokenOut]:
        if principal.user_id is None:
            raise Unauthorized("sign in as a user")
        with self._db.read() as s:
            rows = s.exec(select(ApiToken).where(ApiToken.user_id == principal.user_id)).all()
        return [_token_out(r) for r in rows]

    def revoke_token(self, principal: Principal, token_id: int) -> None:
        with self._db.write() as s:
            row = s.get(ApiToken, token_id)
            if row is None or (row.user_id != principal.user_id and not principal.is_admin):
                raise NotFound(f"no token {token_id}")
            s.delete(row)

    # -- robots -------------------------------------------------------------------------------------

    def create_robot(self, principal: Principal, project_name: str, data: RobotCreate) -> RobotIssued:
        project = self._project(project_name)
        self._auth.require(principal, project, Action.ADMIN)
        if COMPONENT.fullmatch(data.name) is None:
            raise Invalid(f"invalid robot name {data.name!r}")
        actions = validate_robot_actions(data.actions)
        expires = _expiry(data.expires_in_days)
        with self._db.write() as s:
            if s.exec(select(Robot).where(Robot.project_id == project.id, Robot.name == data.name)).first():
                raise Conflict(f"robot {data.name!r} already exists in {project_name}")
            assert project.id is not None
            robot = Robot(project_id=project.id, name=data.name, actions=actions, expires_at=expires,
                          created_by=principal.name)
            s.add(robot)
        assert robot.id is not None
        token = self._auth.issue_robot_token(robot.id, expires)
        return RobotIssued(robot=self._robot_out(robot, project_name), token=token)

    def list_robots(self, principal: Principal, project_name: str) -> list[RobotOut]:
        project = self._project(project_name)
        self._auth.require(principal, project, Action.ADMIN)
        with self._db.read() as s:
            rows = s.exec(select(Robot).where(Robot.project_id == project.id)).all()
        return [self._robot_out(r, project_name) for r in rows]

    def delete_robot(self, principal: Principal, project_name: str, name: str) -> None:
        project = self._project(project_name)
        self._auth.require(principal, project, Action.ADMIN)
        with self._db.write() as s:
            robot = s.exec(select(Robot).where(Robot.project_id == project.id, Robot.name == name)).first()
            if robot is None:
                raise NotFound(f"no robot {name!r} in {project_name}")
            for tok in s.exec(select(ApiToken).where(ApiToken.robot_id == robot.id)).all():
                s.delete(tok)
            s.delete(robot)

    def _project(self, name: str) -> Project:
        with self._db.read() as s:
            return get_project(s, name)

    @staticmethod
    def _robot_out(r: Robot, project_name: str) -> RobotOut:
        return RobotOut(id=r.id or 0, name=r.name, project=project_name,
                        username=robot_username(project_name, r.name), actions=list(r.actions),
                        expires_at=r.expires_at, created_at=r.created_at)
