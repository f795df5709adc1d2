"""Wire types for projects."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

Visibility = Literal["public", "private"]


class ProjectCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    visibility: Visibility = "private"
    description: str = ""


class ProjectUpdate(msgspec.Struct, forbid_unknown_fields=True):
    visibility: Visibility | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET


class ProjectOut(msgspec.Struct):
    name: str
    visibility: Visibility
    description: str
    created_at: dt.datetime
    chart_count: int = 0
