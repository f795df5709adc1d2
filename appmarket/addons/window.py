"""Maintenance windows: a cron expression names when each window opens, in a time zone; it lasts ``duration``.

Pure over an injected ``now`` (aware, any zone). ``croniter`` walks the schedule in the window's zone, so
"every day at 02:00 Asia/Shanghai" stays 02:00 local across DST changes where the zone has them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# croniter ships no type information and types-croniter is not a project dependency.
from croniter import croniter  # type: ignore[import-untyped]

from appmarket.addons.schemas import Window
from appmarket.errors import Invalid


def validate(window: Window) -> None:
    if not croniter.is_valid(window.cron):
        raise Invalid(f"invalid cron expression {window.cron!r} in the maintenance window")
    if window.duration <= 0:
        raise Invalid("the maintenance window's duration must be positive (seconds)")
    _zone(window.timezone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r} in the maintenance window") from None


def last_open(window: Window, now: dt.datetime) -> dt.datetime:
    """When the latest window opened at or before ``now`` (UTC)."""
    local = now.astimezone(_zone(window.timezone)) + dt.timedelta(seconds=1)
    start: dt.datetime = croniter(window.cron, local).get_prev(dt.datetime)
    return start.astimezone(dt.UTC)


def is_open(window: Window, now: dt.datetime) -> bool:
    return now < last_open(window, now) + dt.timedelta(seconds=window.duration)


def next_open(window: Window, now: dt.datetime) -> dt.datetime:
    """``now`` when a window is open, else when the next one opens (UTC)."""
    if is_open(window, now):
        return now.astimezone(dt.UTC)
    start: dt.datetime = croniter(window.cron, now.astimezone(_zone(window.timezone))).get_next(dt.datetime)
    return start.astimezone(dt.UTC)
