"""Authentication (who is calling) and authorisation (may they do this, here).

Credentials arrive as Basic (username + password or token) or Bearer (token). Successful password
checks are remembered briefly because Helm sends Basic credentials on every request and argon2 is slow
on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time

from sqlmodel import Session, col, select

from appmarket.auth import secrets as sec
from appmarket.auth.permissions import ROBOT_GRANTABLE, Action, Role, actions_for
from appmarket.auth.schemas import Principal
from appmarket.db.engine import Database
from appmarket.db.models import ApiToken, Membership, Project, Robot, User, utcnow
from appmarket.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

ROBOT_PREFIX = "robot$"
_PASSWORD_CACHE_SECONDS = 60.0


def robot_username(project: str, name: str) -> str:
    return f"{ROBOT_PREFIX}{project}+{name}"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class AuthService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._password_ok: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    # -- authentication -------------------------------------------------------------------------

    def authenticate_basic(self, username: str, secret: str) -> Principal:
        if secret.startswith(sec.TOKEN_PREFIX):
            principal = self.authenticate_bearer(secret)
            if principal.name != username:
                raise Unauthorized("token does not belong to this user")
            return principal
        cache_key = hashlib.sha256(f"{username}\0{secret}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._password_ok.get(cache_key)
        if hit and hit[0] > now:
            return hit[1]
        with self._db.read() as s:
            user = s.exec(select(User).where(User.username == username)).first()
        if user is None or not user.password_hash or not sec.verify_password(user.password_hash, secret):
            raise Unauthorized("invalid username or password")
        principal = Principal(kind="user", name=user.username, user_id=user.id, is_admin=user.is_admin)
        with self._lock:
            self._password_ok[cache_key] = (now + _PASSWORD_CACHE_SECONDS, principal)
        return principal

    def forget(self, username: str) -> None:
        """Drop cached password checks of an account (deleted, or its password changed)."""
        with self._lock:
            for key in [k for k, (_, p) in self._password_ok.items() if p.name == username]:
                del self._password_ok[key]

    def authenticate_bearer(self, token: str) -> Principal:
        digest = sec.hash_token(token)
        with self._db.read() as s:
            row = s.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
            if row is None:
                raise Unauthorized("invalid token")
            now = utcnow()
            expires = _aware(row.expires_at)
            if expires is not None and expires <= now:
                raise Unauthorized("token expired")
            if row.robot_id is not None:
                robot = s.get(Robot, row.robot_id)
                project = s.get(Project, robot.project_id) if robot else None
                if robot is None or project is None:
                    raise Unauthorized("invalid token")
                robot_expires = _aware(robot.expires_at)
                if robot_expires is not None and robot_expires <= now:
                    raise Unauthorized("robot account expired")
                return Principal(kind="robot", name=robot_username(project.name, robot.name),
                                 robot_id=robot.id, robot_project_id=robot.project_id,
                                 robot_actions=frozenset(robot.actions))
            user = s.get(User, row.user_id) if row.user_id is not None else None
            if user is None:
                raise Unauthorized("invalid token")
            return Principal(kind="user", name=user.username, user_id=user.id, is_admin=user.is_admin)

    def principal_for_user(self, user_id: int) -> Principal | None:
        """The principal of a signed-in browser session (None when the account is gone)."""
        with self._db.read() as s:
            user = s.get(User, user_id)
        if user is None:
            return None
        return Principal(kind="user", name=user.username, user_id=user.id, is_admin=user.is_admin)

    def login(self, username: str, secret: str) -> Principal:
        """Password or token sign-in for the web UI; raises ``Unauthorized``."""
        return self.authenticate_basic(username, secret)

    # -- authorisation ----------------------------------------------------------------------------

    def project_actions(self, principal: Principal, project: Project) -> frozenset[Action]:
        role: Role | None = None
        if principal.user_id is not None and not principal.is_admin:
            with self._db.read() as s:
                m = s.exec(select(Membership).where(Membership.project_id == project.id,
                                                    Membership.user_id == principal.user_id)).first()
            role = Role(m.role) if m else None
        robot_actions = None
        if principal.kind == "robot" and principal.robot_project_id == project.id:
            robot_actions = frozenset(Action(a) for a in principal.robot_actions if a in Action.__members__.values())
        return actions_for(is_admin=principal.is_admin, role=role, public=project.visibility == "public",
                           signed_in=principal.signed_in, robot_actions=robot_actions)

    def require(self, principal: Principal, project: Project, action: Action) -> None:
        """Raise ``Unauthorized`` for anonymous callers and ``Forbidden`` for signed-in ones."""
        if action in self.project_actions(principal, project):
            return
        if not principal.signed_in:
            raise Unauthorized(f"authentication required to {action} in project {project.name!r}")
        raise Forbidden(f"{principal.name} may not {action} in project {project.name!r}")

    def require_admin(self, principal: Principal) -> None:
        if not principal.signed_in:
            raise Unauthorized("authentication required")
        if not principal.is_admin:
            raise Forbidden("administrator rights required")

    # -- accounts ---------------------------------------------------------------------------------

    def ensure_admin(self, username: str) -> str | None:
        """Create the first admin with a fresh token; return the token, or None if one exists."""
        with self._db.write() as s:
            if s.exec(select(User).where(col(User.is_admin).is_(True))).first() is not None:
                return None
            user = User(username=username, is_admin=True)
            s.add(user)
            s.flush()
            assert user.id is not None
            return self._issue_token(s, user_id=user.id, name="initial admin token")

    def reset_token(self, username: str) -> str:
        """Revoke every token of ``username`` and issue a new one (the CLI's ``admin reset-token``)."""
        with self._db.write() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None:
                raise NotFound(f"no user {username!r}")
            for tok in s.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all():
                s.delete(tok)
            assert user.id is not None
            return self._issue_token(s, user_id=user.id, name="reset token")

    def create_user(self, username: str, password: str | None, is_admin: bool) -> User:
        with self._db.write() as s:
            if s.exec(select(User).where(User.username == username)).first() is not None:
                raise Conflict(f"user {username!r} already exists")
            user = User(username=username, is_admin=is_admin,
                        password_hash=sec.hash_password(password) if password else None)
            s.add(user)
        return user

    def issue_user_token(self, user_id: int, name: str, expires_at: dt.datetime | None) -> tuple[ApiToken, str]:
        with self._db.write() as s:
            token = self._issue_token(s, user_id=user_id, name=name, expires_at=expires_at)
            row = s.exec(select(ApiToken).where(ApiToken.token_hash == sec.hash_token(token))).one()
        return row, token

    def issue_robot_token(self, robot_id: int, expires_at: dt.datetime | None) -> str:
        with self._db.write() as s:
            return self._issue_token(s, robot_id=robot_id, name="robot", expires_at=expires_at)

    @staticmethod
    def _issue_token(s: Session, *, user_id: int | None = None, robot_id: int | None = None,
                     name: str = "", expires_at: dt.datetime | None = None) -> str:
        token = sec.new_token()
        s.add(ApiToken(token_hash=sec.hash_token(token), prefix=sec.token_display_prefix(token), name=name,
                       user_id=user_id, robot_id=robot_id, expires_at=expires_at))
        return token


def validate_robot_actions(actions: list[str]) -> list[str]:
    bad = [a for a in actions if a not in {x.value for x in ROBOT_GRANTABLE}]
    if bad or not actions:
        raise Invalid(f"robot actions must be a non-empty subset of {sorted(a.value for a in ROBOT_GRANTABLE)}")
    return sorted(set(actions))
