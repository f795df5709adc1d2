"""The catalog: apps across the projects a caller may read, search, detail, categories and suites.

Reads go to the ``catalog_app`` projection (see ``projection.py``); the permission matrix
(``auth/permissions.py``) is applied once per request by turning the caller into readable project ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlmodel import Session
from sqlmodel import select as sm_select

from appmarket.auth.permissions import Action, Role, actions_for
from appmarket.auth.schemas import Principal
from appmarket.catalog.projection import SYNC, on_chart_change, parse_facts, resync_project
from appmarket.catalog.readme import ReadmeCache
from appmarket.catalog.schemas import (
    AppDetail,
    AppPage,
    AppSummary,
    Category,
    FeaturedParameter,
    GpuNeeds,
    InstallCommands,
    Suite,
    SuiteMember,
)
from appmarket.catalog.search import APP, PROJECT, Query, Scope, count_statement, search_statement
from appmarket.db.engine import Database
from appmarket.db.models import CatalogPublication, ChartVersion, Membership
from appmarket.errors import Invalid, NotFound
from appmarket.repo.charts import ChartService

MAX_PER_PAGE = 100
MAX_QUERY_CHARS = 200


def _summary(row: Any, project: str, score: int | None = None) -> AppSummary:
    m = row._mapping
    return AppSummary(
        project=project, name=m["name"], display_name=m["display_name"],
        latest_version=m["latest_version"], app_version=m["app_version"], versions=list(m["versions"]),
        description=m["description"], icon=m["icon"], category=m["category"], keywords=list(m["keywords"]),
        architectures=list(m["architectures"]),
        gpu=GpuNeeds(mode=m["gpu"], resource=m["gpu_resource"], count=m["gpu_count"]),
        suites=[x for x in m["suites_lc"].split(",") if x], suite=m["suite"], deprecated=m["deprecated"],
        updated_at=m["updated_at"], score=score,
    )


def _lookup(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _schema_at(schema: dict[str, Any] | None, path: str) -> dict[str, Any]:
    node: Any = schema or {}
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return {}
    return node if isinstance(node, dict) else {}


def featured(paths: Sequence[str], values_yaml: str, schema: dict[str, Any] | None) -> list[FeaturedParameter]:
    """Featured parameter paths with their default value and schema hints, for a short install form."""
    try:
        values = yaml.safe_load(values_yaml) if values_yaml else {}
    except yaml.YAMLError:
        values = {}
    out = []
    for path in paths:
        sub = _schema_at(schema, path)
        kind = sub.get("type")
        out.append(FeaturedParameter(
            path=path, default=_lookup(values, path),
            type=kind if isinstance(kind, str) else None, title=sub.get("title"),
            description=sub.get("description"), enum=sub.get("enum") if isinstance(sub.get("enum"), list) else None))
    return out


def _with_names(s: Any, names: dict[int, str], ids: set[int]) -> dict[int, str]:
    """``names`` plus any project created since it was read (an administrator sees those at once)."""
    missing = [pid for pid in ids if pid not in names]
    if not missing:
        return names
    found = s.execute(select(PROJECT.c.id, PROJECT.c.name).where(PROJECT.c.id.in_(missing))).all()
    return {**names, **{int(pid): str(name) for pid, name in found}}


class CatalogService:
    def __init__(self, db: Database, charts: ChartService, public_url: str = "") -> None:
        self._db = db
        self._charts = charts
        self._public_url = public_url.rstrip("/")
        self._readmes = ReadmeCache()
        # Same transaction as the chart change: pushes appear and deletions disappear at once.
        charts.hooks.append(on_chart_change)

    # -- visibility ----------------------------------------------------------------------------------

    def scope(self, principal: Principal) -> Scope:
        with self._db.read() as s:
            return self._scope(s, principal)

    def _scope(self, s: Session, principal: Principal) -> Scope:
        """Every project's name and which the caller may not pull from (the permission matrix).

        The same query finds projects whose catalog rows lag their charts (see ``projection.py``) and
        re-derives them first, so one round trip serves both purposes on the hot path.
        """
        projects = s.execute(select(PROJECT.c.id, PROJECT.c.name, PROJECT.c.visibility, PROJECT.c.index_rev,
                                    SYNC.c.index_rev)
                             .select_from(PROJECT.outerjoin(SYNC, SYNC.c.project_id == PROJECT.c.id))).all()
        stale = [pid for pid, _, _, rev, synced in projects if synced != rev]
        for pid in stale:
            with self._db.write() as w:
                resync_project(w, pid)
        if stale:
            s.commit()  # end this read transaction so the next statement sees the re-derived rows
        roles: dict[int, Role] = {}
        if principal.user_id is not None and not principal.is_admin:
            rows = s.exec(sm_select(Membership.project_id, Membership.role)
                          .where(Membership.user_id == principal.user_id)).all()
            roles = {pid: Role(role) for pid, role in rows}
        names = {pid: name for pid, name, *_ in projects}
        if principal.is_admin:
            return Scope(names, sqlite=self._db.is_sqlite)
        hidden = set()
        for pid, _, visibility, *_ in projects:
            robot = None
            if principal.kind == "robot" and principal.robot_project_id == pid:
                robot = frozenset(Action(a) for a in principal.robot_actions if a in {x.value for x in Action})
            acts = actions_for(is_admin=False, role=roles.get(pid), public=visibility == "public",
                               signed_in=principal.signed_in, robot_actions=robot)
            if Action.PULL not in acts:
                hidden.add(pid)
        return Scope(names, frozenset(hidden), sqlite=self._db.is_sqlite)

    # -- reads ---------------------------------------------------------------------------------------

    def search(self, principal: Principal, query: Query) -> AppPage:
        if query.page < 1 or not 1 <= query.per_page <= MAX_PER_PAGE:
            raise Invalid(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
        if len(query.q) > MAX_QUERY_CHARS:
            raise Invalid(f"q is limited to {MAX_QUERY_CHARS} characters")
        if query.sort not in (None, "relevance", "name", "updated"):
            raise Invalid("sort must be one of relevance, name, updated")
        with self._db.read() as s:
            scope = self._scope(s, principal)
            rows = s.execute(search_statement(query, scope)).all()
            if rows:
                total = rows[0]._mapping["total"]
            elif query.page == 1:
                total = 0
            else:  # past the last page: the statement had no row to carry the total
                total = s.execute(count_statement(query, scope)).scalar_one()
            names = _with_names(s, scope.names, {r[1] for r in rows})
        scored = bool(query.q.strip())
        items = [_summary(r, names[r[1]], r._mapping["score"] if scored else None) for r in rows]
        return AppPage(items=items, total=total, page=query.page, per_page=query.per_page)

    def categories(self, principal: Principal) -> list[Category]:
        with self._db.read() as s:
            visible = self._scope(s, principal).clause()
            stmt = select(APP.c.category, func.count()).where(APP.c.category != "").group_by(APP.c.category)
            if visible is not None:
                stmt = stmt.where(visible)
            rows = s.execute(stmt.order_by(APP.c.category)).all()
        return [Category(name=name, count=count) for name, count in rows]

    def suites(self, principal: Principal) -> list[Suite]:
        with self._db.read() as s:
            scope = self._scope(s, principal)
            visible = scope.clause()
            base = select(*APP.c)
            if visible is not None:
                base = base.where(visible)
            umbrellas = s.execute(base.where(APP.c.suite != "").order_by(APP.c.suite, APP.c.project_id)).all()
            names = _with_names(s, scope.names, {u._mapping["project_id"] for u in umbrellas})
            out = []
            for u in umbrellas:
                project = names[u._mapping["project_id"]]
                members = list(u._mapping["suite_members"])
                found = {r._mapping["name"]: _summary(r, project) for r in s.execute(
                    base.where(APP.c.project_id == u._mapping["project_id"], APP.c.name.in_(members))).all()}
                out.append(Suite(name=u._mapping["suite"], project=project, app=_summary(u, project),
                                 members=[SuiteMember(name=m, app=found.get(m)) for m in members]))
        return out

    def detail(self, principal: Principal, project_name: str, name: str, version: str | None,
               base_url: str) -> AppDetail:
        project = self._charts.readable_project(principal, project_name)
        with self._db.read() as s:
            self._scope(s, principal)  # brings the project's rows up to date
            app = s.execute(select(*APP.c).where(APP.c.project_id == project.id, APP.c.name == name)).first()
            if app is None:
                raise NotFound(f"app {name!r} not found in {project_name}")
            wanted = version or app._mapping["latest_version"]
            row = s.exec(sm_select(ChartVersion).where(ChartVersion.project_id == project.id,
                                                       ChartVersion.name == name,
                                                       ChartVersion.version == wanted)).first()
            if row is None:
                raise NotFound(f"app {name!r} has no version {wanted!r} in {project_name}")
            pub = s.get(CatalogPublication, row.id)
        meta = row.metadata_json
        facts = parse_facts(row.annotations)
        return AppDetail(
            app=_summary(app, project.name), version=row.version, app_version=row.app_version,
            created_at=row.created_at,
            kube_version=str(meta.get("kubeVersion", "")), home=str(meta.get("home", "")),
            sources=[str(x) for x in meta.get("sources", [])],
            maintainers=[{k: str(v) for k, v in m.items()} for m in meta.get("maintainers", []) if isinstance(m, dict)],
            dependencies=[d for d in meta.get("dependencies", []) if isinstance(d, dict)],
            readme_html=self._readmes.get(row.digest, row.readme), values_yaml=row.values_yaml,
            values_schema=row.values_schema,
            featured_parameters=featured(facts.featured_parameters, row.values_yaml, row.values_schema),
            images=list(pub.images) if pub is not None else [], digest=row.digest,
            install=self.install_commands(base_url, project_name, name, row.version),
        )

    def install_commands(self, base_url: str, project: str, name: str, version: str) -> InstallCommands:
        base = self._public_url or base_url.rstrip("/")
        host = base.split("://", 1)[-1]
        release = f"my-{name}"[:53]
        plain = " --plain-http" if base.startswith("http://") else ""
        return InstallCommands(
            helm_repo=[f"helm repo add {project} {base}/{project}", "helm repo update",
                       f"helm install {release} {project}/{name} --version {version}"],
            oci=[f"helm install {release} oci://{host}/{project}/{name} --version {version}{plain}"],
        )
