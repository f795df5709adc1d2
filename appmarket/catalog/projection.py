"""The ``catalog_app`` projection: one denormalised row per (project, chart name), derived from versions.

Why a projection: search must stay within a few milliseconds at 10,000 apps, so it scans one narrow
table with lowercase search columns instead of grouping ``chart_version`` rows per request. Rows are
rewritten inside the chart write transaction (the ChartService hook) and, as a safety net for writers
that bypass the hook, re-derived per project whenever ``catalog_sync.index_rev`` lags the project's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from appmarket.db.models import CatalogApp, CatalogSync, ChartVersion, Project
from appmarket.db.queries import ProjectRef
from appmarket.repo.index import semver_sort_key

ANN = "appmarket.io/"
APP = CatalogApp.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
SYNC = CatalogSync.__table__  # type: ignore[attr-defined]
GPU_MODES = ("none", "optional", "required")


@dataclass(frozen=True)
class AppFacts:
    """What the AppMarket annotations of a chart version say, parsed leniently (bad values ignored)."""

    display_name: str = ""
    category: str = ""
    architectures: list[str] = field(default_factory=list)
    gpu: str = "none"
    gpu_resource: str = ""
    gpu_count: int = 0
    featured_parameters: list[str] = field(default_factory=list)
    suite: str = ""
    suite_members: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)


def _csv(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _json_strings(value: str) -> list[str]:
    try:
        data = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(v) for v in data if isinstance(v, str)] if isinstance(data, list) else []


def parse_facts(annotations: dict[str, str]) -> AppFacts:
    """User charts carry arbitrary annotations; nothing here may fail an upload."""
    a = {k.removeprefix(ANN): str(v) for k, v in annotations.items() if k.startswith(ANN)}
    gpu = a.get("gpu", "none").strip().lower()
    count = a.get("gpu-count", "").strip()
    suite = a.get("suite", "").strip()
    suites = _csv(a.get("suites", ""))
    if suite and suite not in suites:
        suites.insert(0, suite)
    return AppFacts(
        display_name=a.get("display-name", "").strip(), category=a.get("category", "").strip(),
        architectures=[x.lower() for x in _csv(a.get("architectures", ""))],
        gpu=gpu if gpu in GPU_MODES else "none", gpu_resource=a.get("gpu-resource", "").strip(),
        gpu_count=int(count) if count.isdigit() else 0,
        featured_parameters=_json_strings(a.get("featured-parameters", "")),
        suite=suite, suite_members=_json_strings(a.get("suite-members", "")), suites=suites,
    )


def latest_version(versions: Sequence[str]) -> str:
    """Highest SemVer release; a prerelease only when there is no release."""
    releases = [v for v in versions if semver_sort_key(v)[3] == 1]
    return max(releases or list(versions), key=semver_sort_key)


def _delimited(items: Sequence[str]) -> str:
    return "," + ",".join(i.lower() for i in items) + "," if items else ""


_COLUMNS = tuple(col(c) for c in (
    ChartVersion.version, ChartVersion.created_at, ChartVersion.app_version, ChartVersion.description,
    ChartVersion.icon, ChartVersion.keywords, ChartVersion.annotations, ChartVersion.deprecated))


def build_row(project_id: int, name: str, versions: Sequence[Any]) -> CatalogApp:
    """The catalog row for one chart name from its version rows (tuples in ``_COLUMNS`` order)."""
    by_version = {v[0]: v for v in versions}
    latest = by_version[latest_version(list(by_version))]
    _, _, app_version, description, icon, keywords, annotations, deprecated = latest
    facts = parse_facts(dict(annotations or {}))
    keywords = [str(k) for k in keywords or []]
    display = facts.display_name or name
    return CatalogApp(
        project_id=project_id, name=name, latest_version=latest[0], app_version=app_version or "",
        versions=sorted(by_version, key=semver_sort_key, reverse=True), display_name=display,
        description=description or "", icon=icon or "", category=facts.category,
        category_lc=facts.category.lower(), keywords=keywords,
        architectures=facts.architectures, gpu=facts.gpu, gpu_resource=facts.gpu_resource,
        gpu_count=facts.gpu_count, suite=facts.suite, suite_members=facts.suite_members,
        deprecated=bool(deprecated), updated_at=max(v[1] for v in versions),
        name_lc=name.lower(), display_lc=display.lower(), keywords_lc=_delimited(keywords),
        description_lc=(description or "").lower(), arch_lc=_delimited(facts.architectures),
        suites_lc=_delimited(facts.suites),
        search_lc="\n".join((name.lower(), display.lower(), _delimited(keywords), (description or "").lower())),
    )


def refresh_app(s: Session, project_id: int, name: str) -> None:
    """Rewrite (or remove) the row of one chart name from its current versions, in ``s``'s transaction."""
    rows = s.execute(select(*_COLUMNS).where(col(ChartVersion.project_id) == project_id,
                                             col(ChartVersion.name) == name)).all()
    s.connection().execute(delete(APP).where(APP.c.project_id == project_id, APP.c.name == name))
    if rows:
        s.add(build_row(project_id, name, rows))


def on_chart_change(s: Session, ref: ProjectRef, name: str) -> None:
    """ChartService hook: keep the row current and advance the sync mark if it was current before."""
    refresh_app(s, ref.id, name)
    s.flush()
    s.connection().execute(update(SYNC).where(SYNC.c.project_id == ref.id, SYNC.c.index_rev == ref.rev - 1)
                           .values(index_rev=ref.rev))


def resync_project(s: Session, project_id: int) -> None:
    """Re-derive every row of a project (in a write transaction) and mark it current."""
    # A no-op update takes the project's row lock first, as uploads do, so a resync and an upload of the
    # same project serialise instead of racing on catalog rows (SQLite already holds the write lock).
    table = Project.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
    rev = s.connection().execute(update(table).where(table.c.id == project_id)
                                 .values(index_rev=table.c.index_rev).returning(table.c.index_rev)).scalar()
    if rev is None:
        return
    rows = s.execute(select(col(ChartVersion.name), *_COLUMNS).where(col(ChartVersion.project_id) == project_id)).all()
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r[0], []).append(tuple(r[1:]))
    s.connection().execute(delete(APP).where(APP.c.project_id == project_id))
    s.add_all(build_row(project_id, n, vs) for n, vs in grouped.items())
    mark = s.get(CatalogSync, project_id)
    if mark is None:
        mark = CatalogSync(project_id=project_id)
    mark.index_rev = rev
    s.add(mark)
