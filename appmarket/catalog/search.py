"""Catalog search as one SQL statement over ``catalog_app``: filters, ranking, sort and page.

Ranking (per query term, summed over the terms; every term must occur somewhere):

====================================  =====
the term ...                          score
====================================  =====
equals the chart name                 100
is a prefix of the chart name          80
occurs in the chart name               70
occurs in the display name             60
equals a keyword                       40
occurs in a keyword                    30
occurs in the description              20
====================================  =====

Only the best matching rule of each term counts. Ties sort by name, then project. Terms are matched
case-insensitively as substrings (``LIKE`` on lowercase columns, wildcards in the input escaped; the
WHERE clause tests one concatenated ``search_lc`` column, the scoring CASE runs on matches only). A page
is one statement (a narrow sort, then the page's full rows by key, with the total). At 10,000 apps that
is a few milliseconds on SQLite and PostgreSQL (``bench/catalog.py``; PostgreSQL answers the LIKE from a
pg_trgm index), so both backends rank identically with no FTS machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, literal, null, select, true
from sqlalchemy.sql import Select

from appmarket.db.models import CatalogApp, Project

Sort = Literal["relevance", "name", "updated"]
MAX_TERMS = 8

APP = CatalogApp.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
PROJECT = Project.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Query:
    q: str = ""
    category: str | None = None
    project: str | None = None
    arch: str | None = None
    gpu: str | None = None
    suite: str | None = None
    sort: Sort | None = None
    page: int = 1
    per_page: int = 20


def terms(q: str) -> list[str]:
    out: list[str] = []
    for t in q.lower().split():
        if t not in out:
            out.append(t)
    return out[:MAX_TERMS]


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(column: Any, pattern: str) -> ColumnElement[bool]:
    return column.like(pattern, escape="\\")  # type: ignore[no-any-return]


def term_score(term: str) -> ColumnElement[int]:
    e = _escape(term)
    c = APP.c
    return case(
        (c.name_lc == term, 100),
        (_like(c.name_lc, f"{e}%"), 80),
        (_like(c.name_lc, f"%{e}%"), 70),
        (_like(c.display_lc, f"%{e}%"), 60),
        (_like(c.keywords_lc, f"%,{e},%"), 40),
        (_like(c.keywords_lc, f"%{e}%"), 30),
        (_like(c.description_lc, f"%{e}%"), 20),
        else_=0,
    )


def term_matches(term: str) -> ColumnElement[bool]:
    return _like(APP.c.search_lc, f"%{_escape(term)}%")


def _one_item(column: Any, value: str) -> ColumnElement[bool]:
    return _like(column, f"%,{_escape(value.strip().lower())},%")


@dataclass(frozen=True)
class Scope:
    """Project names by id, and which of them the caller may not read (``hidden``)."""

    names: dict[int, str]
    hidden: frozenset[int] = frozenset()
    sqlite: bool = False

    def clause(self) -> ColumnElement[bool] | None:
        """``project_id IN (readable)``: only projects known to be readable, so a project created after
        this scope was computed stays invisible until the next request.

        On SQLite, when most projects are readable, the column is wrapped (``project_id + 0``) so SQLite
        scans the table instead of fetching every app through the (project_id, name) index, one random
        row access each, several times slower; with few readable projects the index is the fast path.
        """
        if not self.hidden:
            return None
        readable = sorted(pid for pid in self.names if pid not in self.hidden)
        column = APP.c.project_id + 0 if self.sqlite and len(readable) * 2 >= len(self.names) else APP.c.project_id
        return column.in_(readable)  # type: ignore[no-any-return]


def filters(query: Query, scope: Scope) -> list[ColumnElement[bool]]:
    """WHERE clauses of a query within what the caller may read."""
    c = APP.c
    where: list[ColumnElement[bool]] = [term_matches(t) for t in terms(query.q)]
    visible = scope.clause()
    if visible is not None:
        where.append(visible)
    if query.project:
        where.append(c.project_id == select(PROJECT.c.id).where(PROJECT.c.name == query.project).scalar_subquery())
    if query.category:
        where.append(c.category_lc == query.category.strip().lower())
    if query.arch:
        where.append(_one_item(c.arch_lc, query.arch))
    if query.gpu:
        gpu = query.gpu.strip().lower()
        where.append(c.gpu != "none" if gpu in ("any", "true", "yes") else c.gpu == gpu)
    if query.suite:
        where.append(_one_item(c.suites_lc, query.suite))
    return where


def search_statement(query: Query, scope: Scope) -> Select[Any]:
    """One page of apps as one statement: summary columns, ``score`` and ``total``, in order.

    The inner query sorts narrow (id, sort keys) rows only, since sorting thousands of full rows is
    the cost; the outer one fetches the page's full rows by primary key. ``total`` is a window count
    when every match is visited anyway (ranking, LIKE filters) and otherwise an uncorrelated count
    subquery, so index-ordered browsing stops after one page. One statement, one round trip.
    """
    ts = terms(query.q)
    score: ColumnElement[int] = literal(0)
    for t in ts:
        score = score + term_score(t)
    sort = query.sort or ("relevance" if ts else "name")
    where = and_(true(), *filters(query, scope))
    scans = sort == "relevance" or bool(query.arch or query.gpu or query.suite)
    total = func.count().over() if scans else null()
    keys = [APP.c.updated_at, APP.c.name_lc, APP.c.project_id]
    inner_order: list[Any]
    if sort == "updated":
        inner_order = [APP.c.updated_at.desc(), APP.c.name_lc, APP.c.project_id]
    elif sort == "name":
        inner_order = [APP.c.name_lc, APP.c.project_id]
    else:
        inner_order = [score.desc(), APP.c.name_lc, APP.c.project_id]
    page = (select(APP.c.id, score.label("score"), total.label("total"), *keys).where(where)
            .order_by(*inner_order).limit(query.per_page).offset((query.page - 1) * query.per_page)
            .subquery("page"))
    p = page.c
    outer_order: list[Any]
    if sort == "updated":
        outer_order = [p.updated_at.desc(), p.name_lc, p.project_id]
    elif sort == "name":
        outer_order = [p.name_lc, p.project_id]
    else:
        outer_order = [p.score.desc(), p.name_lc, p.project_id]
    count = p.total if scans else select(func.count()).select_from(APP).where(where).scalar_subquery()
    return (select(APP.c.id, APP.c.project_id, *(APP.c[n] for n in SUMMARY_COLUMNS), p.score,
                   count.label("total"))
            .select_from(APP.join(page, page.c.id == APP.c.id))
            .order_by(*outer_order))


def count_statement(query: Query, scope: Scope) -> Select[Any]:
    return select(func.count()).select_from(APP).where(and_(true(), *filters(query, scope)))


SUMMARY_COLUMNS = ("name", "latest_version", "app_version", "versions", "display_name", "description", "icon",
                    "category", "keywords", "architectures", "gpu", "gpu_resource", "gpu_count", "suite",
                    "suite_members", "suites_lc", "deprecated", "updated_at")
