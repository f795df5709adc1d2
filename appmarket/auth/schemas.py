"""Wire types for accounts, tokens and robots."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec


class Principal(msgspec.Struct, frozen=True):
    """Who is calling. Built once per request by the auth service."""

    kind: Literal["anonymous", "user", "robot"]
    name: str = ""
    user_id: int | None = None
    is_admin: bool = False
    robot_id: int | None = None
    robot_project_id: int | None = None
    robot_actions: frozenset[str] = frozenset()

    @property
    def signed_in(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal(kind="anonymous")


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str | None = None
    is_admin: bool = False


class UserOut(msgspec.Struct):
    id: int
    username: str
    is_admin: bool
    created_at: dt.datetime


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str = ""
    expires_in_days: int | None = None


class TokenOut(msgspec.Struct):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenIssued(msgspec.Struct):
    """Returned once, when a token is created: the plaintext is not stored anywhere."""

    id: int
    name: str
    token: str
    expires_at: dt.datetime | None


class RobotCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    actions: list[str] = msgspec.field(default_factory=lambda: ["pull", "push"])
    expires_in_days: int | None = 90


class RobotOut(msgspec.Struct):
    id: int
    name: str
    project: str
    username: str
    actions: list[str]
    expires_at: dt.datetime | None
    created_at: dt.datetime


class RobotIssued(msgspec.Struct):
    robot: RobotOut
    token: str


class MemberSet(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    role: str


class MemberOut(msgspec.Struct):
    username: str
    role: str
