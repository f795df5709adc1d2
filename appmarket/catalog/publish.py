"""Publishing the curated charts under ``catalog/`` into the public ``library`` project.

Idempotent and quick when nothing changed: each chart's source digest (``sources.py``) is compared with
the one recorded at its last publication, so unchanged charts cost no helm call at all. Charts that do
need publishing are packaged from a temporary copy of the catalog (umbrella charts after ``helm dependency
update`` of their ``file://`` members, so the source tree never gets ``charts/`` or ``Chart.lock``), in
parallel, then uploaded through ChartService with the same validation as any upload. A chart whose
sources changed while its version did not is refused, by name.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

import appmarket
from appmarket.auth.schemas import Principal
from appmarket.catalog.helm_cli import HelmCli
from appmarket.catalog.images import images_in_manifests
from appmarket.catalog.schemas import PublishedChart, PublishReport
from appmarket.catalog.sources import ChartSource, discover, source_digest
from appmarket.db.engine import Database
from appmarket.db.models import CatalogPublication, ChartVersion, Project
from appmarket.errors import AppMarketError, Conflict
from appmarket.projects.schemas import ProjectCreate
from appmarket.projects.service import ProjectService
from appmarket.repo.charts import ChartService

log = logging.getLogger(__name__)

LIBRARY = "library"
SYSTEM = Principal(kind="user", name="system", is_admin=True)
MAX_WORKERS = 8


def default_catalog_dir(configured: str = "") -> Path:
    """The configured directory, else ``catalog/`` beside the ``appmarket`` package (a source checkout)."""
    return Path(configured) if configured else Path(appmarket.__file__).resolve().parents[1] / "catalog"


@dataclass
class _Built:
    source: ChartSource
    digest: str
    package: Path | None = None
    images: list[str] | None = None
    error: str = ""


def _copy_catalog(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=False,
                    ignore=shutil.ignore_patterns("charts", "Chart.lock", "*.tgz", ".git"))


class Publisher:
    def __init__(self, db: Database, projects: ProjectService, charts: ChartService) -> None:
        self._db = db
        self._projects = projects
        self._charts = charts

    def publish(self, catalog_dir: Path) -> PublishReport:
        started = time.monotonic()
        sources = discover(catalog_dir)
        by_path = {s.path.resolve(): s for s in sources}
        digests = {id(s): source_digest(s, by_path) for s in sources}
        self._ensure_library()
        recorded = self._recorded()
        results: list[PublishedChart] = []
        todo: list[_Built] = []
        for s in sources:
            key = (s.name, s.version)
            if key not in recorded:
                todo.append(_Built(s, digests[id(s)]))
            elif recorded[key] == digests[id(s)]:
                results.append(PublishedChart(name=s.name, version=s.version, status="unchanged"))
            else:
                results.append(PublishedChart(name=s.name, version=s.version, status="refused",
                                              message=self._refusal(s, catalog_dir, recorded[key])))
        if todo:
            results += self._build_and_upload(catalog_dir, todo)
        results.sort(key=lambda r: r.name)
        report = PublishReport(project=LIBRARY, charts=results, seconds=round(time.monotonic() - started, 3))
        for r in report.charts:
            if r.status in ("refused", "failed"):
                log.error("catalog: %s %s %s: %s", r.name, r.version, r.status, r.message)
        log.info("catalog published in %.2fs: %s", report.seconds,
                 {st: sum(1 for r in results if r.status == st) for st in {r.status for r in results}})
        return report

    @staticmethod
    def _refusal(s: ChartSource, catalog_dir: Path, recorded: str | None) -> str:
        where = s.path.relative_to(catalog_dir) if s.path.is_relative_to(catalog_dir) else s.path
        if recorded is None:
            return (f"chart {s.name} {s.version} already exists in {LIBRARY!r} but was not published from "
                    f"the catalog; bump the version in {where}/Chart.yaml")
        return (f"chart {s.name} changed since version {s.version} was published, but its version was not "
                f"bumped: bump the version in {where}/Chart.yaml")

    def _ensure_library(self) -> None:
        try:
            self._projects.lookup(LIBRARY)
        except AppMarketError:
            with contextlib.suppress(Conflict):  # another replica created it meanwhile
                self._projects.create(SYSTEM, ProjectCreate(name=LIBRARY, visibility="public",
                                                            description="Curated applications"))

    def _recorded(self) -> dict[tuple[str, str], str | None]:
        """(name, version) of every library chart, with the source digest it was published from (if any)."""
        with self._db.read() as s:
            rows = s.exec(
                select(ChartVersion.name, ChartVersion.version, CatalogPublication.source_digest)
                .join(Project, col(Project.id) == col(ChartVersion.project_id))
                .outerjoin(CatalogPublication, col(CatalogPublication.chart_version_id) == col(ChartVersion.id))
                .where(Project.name == LIBRARY)).all()
        return {(n, v): d for n, v, d in rows}

    def _build_and_upload(self, catalog_dir: Path, todo: list[_Built]) -> list[PublishedChart]:
        with tempfile.TemporaryDirectory(prefix="appmarket-catalog-") as tmp:
            root = Path(tmp)
            work = root / "catalog"
            _copy_catalog(catalog_dir, work)
            helm = HelmCli(root / "helm-home")
            out_dir = root / "packages"
            out_dir.mkdir()

            def build(item: _Built) -> _Built:
                try:
                    chart_dir = work / item.source.path.relative_to(catalog_dir)
                    if item.source.is_umbrella:
                        helm.dependency_update(chart_dir)
                    item.package = helm.package(chart_dir, out_dir / item.source.name)
                    item.images = images_in_manifests(helm.template(item.package))
                except (AppMarketError, ValueError) as exc:
                    item.error = getattr(exc, "message", str(exc))
                return item

            with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(todo))) as pool:
                built = list(pool.map(build, todo))
            return [self._upload(item) for item in built]

    def _upload(self, item: _Built) -> PublishedChart:
        s = item.source
        if item.error or item.package is None:
            return PublishedChart(name=s.name, version=s.version, status="failed", message=item.error)
        try:
            with item.package.open("rb") as fh:
                self._charts.upload(SYSTEM, LIBRARY, fh, source="catalog")
        except Conflict:
            # Another replica published the same version meanwhile: fine if from the same sources. Its
            # publication record follows its upload, so give it a moment to appear.
            recorded = None
            for _ in range(20):
                recorded = self._recorded().get((s.name, s.version))
                if recorded is not None:
                    break
                time.sleep(0.1)
            if recorded == item.digest:
                return PublishedChart(name=s.name, version=s.version, status="unchanged")
            return PublishedChart(name=s.name, version=s.version, status="refused",
                                  message=f"chart {s.name} {s.version} was published concurrently from other sources")
        except AppMarketError as exc:
            return PublishedChart(name=s.name, version=s.version, status="failed", message=exc.message)
        images = item.images or []
        with self._db.write() as db:
            row = db.exec(select(ChartVersion).join(Project, col(Project.id) == col(ChartVersion.project_id))
                          .where(Project.name == LIBRARY, ChartVersion.name == s.name,
                                 ChartVersion.version == s.version)).one()
            assert row.id is not None
            db.merge(CatalogPublication(chart_version_id=row.id, source_digest=item.digest, images=images))
        return PublishedChart(name=s.name, version=s.version, status="published", images=images)


def publish_at_startup(db: Database, projects: ProjectService, charts: ChartService, catalog_dir: str) -> None:
    """Start-up publishing: problems are logged, never fatal (the repository must still come up)."""
    path = default_catalog_dir(catalog_dir)
    if not path.is_dir():
        log.info("catalog: no curated charts at %s, nothing to publish", path)
        return
    try:
        Publisher(db, projects, charts).publish(path)
    except AppMarketError as exc:
        log.error("catalog: publishing failed: %s", exc.message)
