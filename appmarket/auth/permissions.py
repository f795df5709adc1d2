"""The permission matrix, as data.

Roles are granted per project. A system administrator may do everything everywhere; anonymous callers
may only pull from public projects; a robot may do what its token lists, in its own project only, and
never more than a developer-plus-delete role would allow.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    OVERWRITE = "overwrite"
    ADMIN = "admin"  # manage members, robots, and delete the project


class Role(enum.StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    MAINTAINER = "maintainer"
    ADMIN = "admin"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.PULL}),
    Role.DEVELOPER: frozenset({Action.PULL, Action.PUSH}),
    Role.MAINTAINER: frozenset({Action.PULL, Action.PUSH, Action.DELETE, Action.OVERWRITE}),
    Role.ADMIN: frozenset(Action),
}

ANONYMOUS_PUBLIC: frozenset[Action] = frozenset({Action.PULL})
# Any signed-in account may pull from a public project.
SIGNED_IN_PUBLIC: frozenset[Action] = frozenset({Action.PULL})
# What a robot token may be granted at most.
ROBOT_GRANTABLE: frozenset[Action] = frozenset({Action.PULL, Action.PUSH, Action.DELETE, Action.OVERWRITE})


def actions_for(*, is_admin: bool, role: Role | None, public: bool, signed_in: bool,
                robot_actions: frozenset[Action] | None = None) -> frozenset[Action]:
    """What a caller may do in one project.

    ``robot_actions`` is set (possibly empty) when the caller is a robot of this project.
    """
    if is_admin:
        return frozenset(Action)
    granted: set[Action] = set()
    if public:
        granted |= SIGNED_IN_PUBLIC if signed_in else ANONYMOUS_PUBLIC
    if role is not None:
        granted |= ROLE_ACTIONS[role]
    if robot_actions is not None:
        granted |= robot_actions & ROBOT_GRANTABLE
    return frozenset(granted)
