"""Catalog search benchmark: 10,000 apps on SQLite and PostgreSQL, p50/p99 per query and overall.

Usage: python bench/catalog.py [--apps 10000] [--rounds 100] [--backends sqlite,postgres]
                               [--pg postgresql://postgres@127.0.0.1:5432/test]

Apps are seeded in bulk through the catalog projection (``build_row``, the code the upload hook runs), in
20 projects (5 private). Each query of the mix runs ``--rounds`` times (a) in process through
``CatalogService.search`` and (b) over HTTP against a live ``appmarket serve`` with a keep-alive client,
as the anonymous caller and as the administrator. Target: p99 <= 20 ms at 10,000 apps. On SQLite the
in-process figures also show CPU time, which a busy (shared) machine inflates far less than wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appmarket.auth.schemas import ANONYMOUS, Principal  # noqa: E402
from appmarket.catalog.projection import APP, SYNC, build_row  # noqa: E402
from appmarket.catalog.search import Query  # noqa: E402
from appmarket.projects.schemas import ProjectCreate  # noqa: E402
from appmarket.services import Services, bootstrap, build_services  # noqa: E402
from appmarket.settings import Settings, load_settings  # noqa: E402
from tests.support.app import start_server, stop_server  # noqa: E402

ADMIN = Principal(kind="user", name="admin", user_id=1, is_admin=True)
_WORD_TEXT = ("kafka zookeeper spark flink hadoop hdfs hive presto trino redis postgres mysql mongo cassandra "
         "elastic kibana grafana prometheus loki tempo jaeger nginx envoy istio linkerd traefik vault consul "
         "minio ceph rook argo tekton jenkins gitlab harbor keycloak ray mlflow jupyter triton vllm torch "
         "tensor airflow dagster superset metabase clickhouse druid pinot pulsar nats rabbit etcd coredns "
         "velero cert")
WORDS = _WORD_TEXT.split()
CATEGORIES = ("Big Data", "AI / ML", "Databases", "Monitoring", "Networking", "Security", "CI/CD", "Storage")
QUERIES: dict[str, Query] = {
    "q=kafka": Query(q="kafka"),
    "q=ka (short)": Query(q="ka"),
    "q=stream platform": Query(q="stream platform"),
    "q=redis-ha (name)": Query(q="redis-ha"),
    "q=zzzz (none)": Query(q="zzzz"),
    "q=data&category": Query(q="data", category="Big Data"),
    "browse name p1": Query(),
    "browse name p50": Query(page=50),
    "sort=updated": Query(sort="updated"),
    "category": Query(category="Databases"),
    "arch+gpu": Query(arch="arm64", gpu="none"),
    "suite": Query(suite="bigdata"),
    "project": Query(project="team-07", q="sql"),
}


def seed(services: Services, apps: int) -> None:
    """Projects through the service, apps as bulk inserts of real projection rows."""
    rng = random.Random(7)
    ids = []
    for p in range(20):
        out = services.projects.create(ADMIN, ProjectCreate(name=f"team-{p:02d}",
                                                            visibility="private" if p % 4 == 3 else "public"))
        ids.append(services.projects.lookup(out.name).id)
    pairs = [(a, b) for a in WORDS for b in (*WORDS, "ha", "operator", "exporter")]
    rng.shuffle(pairs)
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    for i in range(apps):
        w1, w2 = pairs[i % len(pairs)]
        name = f"{w1}-{w2}" if i < len(pairs) else f"{w1}-{w2}-{i // len(pairs)}"
        annotations = {"appmarket.io/display-name": f"{w1.title()} {w2.title()}",
                       "appmarket.io/category": rng.choice(CATEGORIES),
                       "appmarket.io/architectures": rng.choice(("amd64", "amd64,arm64")),
                       "appmarket.io/gpu": rng.choice(("none", "none", "none", "optional", "required")),
                       "appmarket.io/suites": rng.choice(("", "", "bigdata", "ai"))}
        description = (f"{w1.title()} {w2} for Kubernetes: a {rng.choice(('stream', 'batch', 'web', 'data'))} "
                       f"{rng.choice(('platform', 'service', 'engine', 'toolkit'))} with sensible defaults.")
        versions = [(f"1.{v}.0", now - dt.timedelta(minutes=rng.randrange(100_000)), "2.0", description,
                     "https://example.com/icon.svg", [w1, w2, "k8s"], annotations, False) for v in range(3)]
        row = build_row(ids[i % 20], name, versions)
        rows.append(row.model_dump(exclude={"id"}))
    with services.db.write() as s:
        conn = s.connection()
        for start in range(0, len(rows), 1000):
            conn.execute(insert(APP), rows[start:start + 1000])
        conn.execute(insert(SYNC), [{"project_id": pid, "index_rev": 0} for pid in ids])
    if not services.db.is_sqlite:
        with services.db.write() as s:  # what autovacuum does shortly after a bulk load
            s.connection().execute(text("ANALYZE catalog_app"))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


Samples = dict[str, list[tuple[float, float]]]


def measure(run: Callable[[Query], Any], rounds: int) -> Samples:
    """Wall time and this thread's CPU time per call (CPU time resists a busy shared machine)."""
    out: Samples = {k: [] for k in QUERIES}
    for _ in range(3):  # warm caches and connections
        for q in QUERIES.values():
            run(q)
    for _ in range(rounds):
        for label, q in QUERIES.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            run(q)
            out[label].append((time.perf_counter() - t0, time.thread_time() - c0))
    return out


def report(title: str, results: Samples, cpu: bool) -> None:
    """``cpu``: also print this process's CPU time (meaningful when the work runs in this process)."""
    def line(xs: list[tuple[float, float]]) -> str:
        p50, p99 = percentiles([w for w, _ in xs])
        text = f"wall p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        if cpu:
            c50, c99 = percentiles([c for _, c in xs])
            text += f"   cpu p50 {c50:6.2f} ms  p99 {c99:6.2f} ms"
        return text

    print(f"  {title}: overall {line([x for xs in results.values() for x in xs])}")
    for label, xs in results.items():
        print(f"    {label:22} {line(xs)}")


def params(q: Query) -> dict[str, Any]:
    raw = {"q": q.q, "category": q.category, "project": q.project, "arch": q.arch, "gpu": q.gpu,
           "suite": q.suite, "sort": q.sort, "page": q.page, "per_page": q.per_page}
    return {k: v for k, v in raw.items() if v not in (None, "")}


def run_backend(name: str, settings: Settings, apps: int, rounds: int, tmp: Path) -> None:
    token = bootstrap(settings)
    assert token
    services = build_services(settings)
    t0 = time.perf_counter()
    seed(services, apps)
    print(f"{name}: seeded {apps} apps in {time.perf_counter() - t0:.1f}s")
    sample = services.catalog.search(ANONYMOUS, Query(q="kafka"))
    print(f"  q=kafka: {sample.total} hits, top {[a.name for a in sample.items[:3]]}")
    for who, principal in (("anonymous", ANONYMOUS), ("admin", ADMIN)):
        report(f"in-process ({who})", measure(lambda q, p=principal: services.catalog.search(p, q), rounds),
               cpu=name == "SQLite")
    services.close()
    server = start_server(settings, token, tmp / f"{name}-server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            def get(q: Query, headers: dict[str, str]) -> None:
                r = client.get("/api/v1/catalog/apps", params=params(q), headers=headers)
                r.raise_for_status()

            report("HTTP (anonymous)", measure(lambda q: get(q, {}), rounds), cpu=False)
            auth = {"Authorization": f"Bearer {token}"}
            report("HTTP (admin)", measure(lambda q: get(q, auth), rounds), cpu=False)
    finally:
        stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="appmarket-catalog-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for backend in args.backends.split(","):
            data_dir = tmp / backend
            if backend == "sqlite":
                settings = load_settings(environ={}, data_dir=str(data_dir), publish_catalog=False,
                                         database_url=f"sqlite:///{data_dir / 'appmarket.db'}")
                run_backend("SQLite", settings, args.apps, args.rounds, tmp)
                continue
            dbname = f"appmarket_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{dbname}"')  # type: ignore[arg-type]
            try:
                url = f"{args.pg.rpartition('/')[0]}/{dbname}"
                settings = load_settings(environ={}, data_dir=str(data_dir), publish_catalog=False,
                                         database_url=url)
                run_backend("PostgreSQL", settings, args.apps, args.rounds, tmp)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
