"""Where a release's chart comes from, and what preflight needs to know about it.

AppMarket charts (``project/chart``) are read straight from the content-addressed blob store into a
private temporary file that helm installs from, so no repository credential (not even a short-lived
one) is ever minted or handed to helm; the caller's pull right on the project is checked instead.
External charts (a chart name with an HTTP ``repo`` URL, or ``oci://...``) are pulled by helm itself
(``Helm.fetch``); an ``oci://`` registry listed in ``installer.plain_http_registries`` is pulled with
``--plain-http``, every other one over HTTPS. Either way preflight reads the package file helm installs
(``package_facts``), with the same archive limits as an upload.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import select

from appmarket.auth.schemas import Principal
from appmarket.db.engine import Database
from appmarket.db.models import ChartVersion, Project
from appmarket.errors import Invalid, NotFound
from appmarket.installer.helm import ChartSource
from appmarket.installer.preflight import ChartFacts
from appmarket.repo import paths
from appmarket.repo.chart_meta import parse_values
from appmarket.repo.chart_package import inspect_chart
from appmarket.repo.charts import ChartService
from appmarket.repo.index import semver_sort_key
from appmarket.settings import ChartLimits
from appmarket.storage.base import BlobStore


def is_local(chart: str, repo: str | None) -> bool:
    """``project/chart`` without a repo URL names a chart in AppMarket."""
    return not repo and not chart.startswith(("oci://", "http://", "https://")) and chart.count("/") == 1


class ChartResolver:
    def __init__(self, db: Database, store: BlobStore, charts: ChartService, tmp_dir: Path,
                 plain_http_registries: tuple[str, ...] | list[str] = (), limits: ChartLimits | None = None) -> None:
        self._db = db
        self._limits = limits or ChartLimits()
        self._store = store
        self._charts = charts
        self._tmp = tmp_dir
        self._plain_http = frozenset(plain_http_registries)

    def plain_http(self, chart: str) -> bool:
        """Whether an ``oci://host[:port]/...`` reference names a registry configured as plain HTTP."""
        return chart.startswith("oci://") and chart.removeprefix("oci://").split("/", 1)[0] in self._plain_http

    def local_version(self, principal: Principal | None, chart: str, version: str | None) -> ChartVersion:
        """The ChartVersion row of ``project/chart`` (newest when no version), checking the pull right."""
        project_name, name = chart.split("/", 1)
        if principal is not None:
            self._charts.readable_project(principal, project_name)
        with self._db.read() as s:
            project = s.exec(select(Project).where(Project.name == project_name)).first()
            if project is None:
                raise NotFound(f"project {project_name!r} not found")
            rows = s.exec(select(ChartVersion).where(ChartVersion.project_id == project.id,
                                                     ChartVersion.name == name)).all()
        if version:
            rows = [r for r in rows if r.version == version]
        if not rows:
            raise NotFound(f"chart {chart}{' ' + version if version else ''} not found")
        return max(rows, key=lambda r: semver_sort_key(r.version))

    @staticmethod
    def facts(row: ChartVersion) -> ChartFacts:
        try:
            defaults = parse_values(row.values_yaml.encode()) if row.values_yaml else {}
        except Invalid:
            defaults = {}
        return ChartFacts(name=row.name, version=row.version, default_values=defaults,
                          values_schema=row.values_schema, annotations=dict(row.annotations),
                          kube_version=str(row.metadata_json.get("kubeVersion") or ""))

    def package_facts(self, package: Path) -> ChartFacts:
        """What preflight needs, read from a chart package file (raises Invalid for a broken package)."""
        with package.open("rb") as fh:
            pkg = inspect_chart(fh, self._limits)
        return ChartFacts(name=pkg.metadata.name, version=pkg.metadata.version, default_values=pkg.values,
                          values_schema=pkg.values_schema, annotations=dict(pkg.metadata.annotations),
                          kube_version=pkg.metadata.kube_version)

    @contextmanager
    def materialize(self, chart: str, repo: str | None, version: str | None) -> Iterator[ChartSource]:
        """A ChartSource helm can use; AppMarket charts become a private temporary package file."""
        if not is_local(chart, repo):
            if not chart.startswith("oci://") and not repo:
                raise Invalid(f"chart {chart!r}: give project/chart, a chart name with a repo URL, or oci://...")
            yield ChartSource(ref=chart, repo=repo, version=version, plain_http=self.plain_http(chart))
            return
        row = self.local_version(None, chart, version)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{row.name}-{row.version}-", suffix=".tgz", dir=self._tmp)
        path = Path(name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                for chunk in self._store.open(paths.blob_key(row.digest)):
                    fh.write(chunk)
            yield ChartSource(ref=str(path))
        finally:
            path.unlink(missing_ok=True)
