"""The permission matrix, as a table: every role and caller kind against every action."""

from __future__ import annotations

import pytest

from appmarket.auth.permissions import Action, Role, actions_for

P, U, D, W, A = Action.PULL, Action.PUSH, Action.DELETE, Action.OVERWRITE, Action.ADMIN

CASES = [
    # (is_admin, role, public, signed_in, robot_actions) -> allowed
    ((False, None, True, False, None), {P}),                    # anonymous, public project
    ((False, None, False, False, None), set()),                 # anonymous, private project
    ((False, None, True, True, None), {P}),                     # signed-in stranger, public
    ((False, None, False, True, None), set()),                  # signed-in stranger, private
    ((False, Role.VIEWER, False, True, None), {P}),
    ((False, Role.DEVELOPER, False, True, None), {P, U}),
    ((False, Role.MAINTAINER, False, True, None), {P, U, D, W}),
    ((False, Role.ADMIN, False, True, None), {P, U, D, W, A}),
    ((True, None, False, True, None), {P, U, D, W, A}),         # system administrator
    ((False, None, False, True, frozenset({P, U})), {P, U}),    # robot of this project
    ((False, None, False, True, frozenset({P, A})), {P}),       # a robot can never administer
    ((False, None, False, True, frozenset()), set()),
]


@pytest.mark.parametrize(("args", "allowed"), CASES)
def test_matrix(args: tuple[bool, Role | None, bool, bool, frozenset[Action] | None],
                allowed: set[Action]) -> None:
    is_admin, role, public, signed_in, robot = args
    got = actions_for(is_admin=is_admin, role=role, public=public, signed_in=signed_in, robot_actions=robot)
    assert got == allowed
