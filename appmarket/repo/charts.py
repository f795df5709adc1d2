"""Chart versions in a project: upload, list, fetch, delete.

Upload order makes crashes harmless: the package is validated, then written to content-addressed
storage (atomic, idempotent), then recorded in one database transaction that also bumps the project's
index revision. A process killed before the commit leaves only an unreferenced blob, which garbage
collection removes; nothing half-made is ever visible and no repair step is needed on restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Protocol

import msgspec
import semver
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.models import ChartVersion, Project, utcnow
from appmarket.db.queries import ProjectRef, bump_index_rev, record_blob
from appmarket.errors import Conflict, Forbidden, Invalid, NotFound
from appmarket.projects.service import get_project
from appmarket.repo import paths
from appmarket.repo.chart_package import ChartPackage, inspect_chart
from appmarket.repo.index import index_entry, render_entry, semver_sort_key
from appmarket.repo.index_cache import IndexCache
from appmarket.repo.oci import codes
from appmarket.repo.provenance import check_provenance, parse_provenance
from appmarket.repo.schemas import ChartDownload, SavedChart, chart_version_json
from appmarket.settings import ChartLimits
from appmarket.storage.base import BlobStore

CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
PROV_MEDIA_TYPE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
_TGZ = re.compile(r"(?P<stem>.+)\.tgz(?P<prov>\.prov)?")

# Called inside the write transaction of every change to a chart name in a project (after the change is
# added to the session), so derived tables such as the catalog commit or roll back with it.
ChartHook = Callable[[Session, ProjectRef, str], None]


class ChartEvents(Protocol):
    """What ChartService tells another view of the charts, inside the transaction that changes them."""

    def chart_published(self, s: Session, project: Project, row: ChartVersion) -> None: ...

    def chart_deleted(self, s: Session, project: Project, name: str, version: str) -> None: ...


def chart_url(name: str, version: str) -> str:
    """The package URL written into index.yaml, relative to the repository URL (as ChartMuseum does)."""
    return f"charts/{name}-{version}.tgz"


def created_text(created: dt.datetime) -> str:
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def metadata_dict(pkg: ChartPackage) -> dict[str, Any]:
    """Chart.yaml fields as Helm names them, without empty values."""
    raw = msgspec.to_builtins(pkg.metadata)
    assert isinstance(raw, dict)
    return {k: v for k, v in raw.items() if v not in (None, "", [], {})}


def split_filename(filename: str) -> tuple[list[tuple[str, str]], bool]:
    """Candidate (name, version) pairs for ``<name>-<version>.tgz[.prov]``.

    Names and versions may both contain dashes, so every split whose right side is SemVer is a candidate.
    """
    m = _TGZ.fullmatch(filename)
    if m is None:
        raise NotFound(f"no chart file {filename!r}")
    stem = m.group("stem")
    out = []
    for i, ch in enumerate(stem):
        if ch == "-" and 0 < i < len(stem) - 1:
            version = stem[i + 1:]
            if semver.Version.is_valid(version.removeprefix("v")):
                out.append((stem[:i], version))
    return out, m.group("prov") is not None


class ChartService:
    def __init__(self, db: Database, store: BlobStore, auth: AuthService, index: IndexCache,
                 limits: ChartLimits, presign: bool = False, presign_expiry: int = 300) -> None:
        self._db = db
        self._store = store
        self._auth = auth
        self._index = index
        self._limits = limits
        self._presign = presign
        self._presign_expiry = presign_expiry
        # The OCI registry's view of the same charts (set in services.py); None keeps charts HTTP-only.
        self.events: ChartEvents | None = None
        self.hooks: list[ChartHook] = []

    # -- writes ---------------------------------------------------------------------------------------

    def upload(self, principal: Principal, project_name: str, package: BinaryIO, prov: bytes | None = None,
               *, force: bool = False, source: str = "helm-http") -> SavedChart:
        project = self._project(project_name)
        self._auth.require(principal, project, Action.PUSH)
        pkg = inspect_chart(package, self._limits)
        if prov is not None:
            check_provenance(prov, pkg)
        package.seek(0)
        self._put_blob(pkg.digest, package, pkg.size)
        prov_digest = self._put_prov(prov) if prov is not None else None
        return self.record(principal, project, pkg, prov_digest, force=force, source=source)

    def record(self, principal: Principal, project: Project, pkg: ChartPackage, prov_digest: str | None, *,
               force: bool, source: str, in_tx: Callable[[Session], None] | None = None) -> SavedChart:
        """Record a validated package whose blobs are stored, in one transaction with the index bump.

        ``in_tx`` runs inside that transaction (the OCI registry records its manifest there); uploads
        not from OCI tell ``events`` so the registry can synthesize the OCI view of the chart.
        """
        project_name = project.name
        may_overwrite = Action.OVERWRITE in self._auth.project_actions(principal, project)
        meta = metadata_dict(pkg)
        name, version = pkg.metadata.name, pkg.metadata.version
        overwritten = False
        try:
            with self._db.write() as s:
                ref = bump_index_rev(s, project.id)
                row = _lookup(s, project, name, version)
                if row is not None:
                    if not force:
                        raise Conflict(f"{name}-{version}.tgz already exists in {project_name}")
                    same = source == "oci" and row.digest == pkg.digest
                    if not may_overwrite and not same:
                        raise Forbidden(f"{principal.name} may not overwrite {name} {version}")
                    overwritten = True
                else:
                    assert project.id is not None
                    row = ChartVersion(project_id=project.id, name=name, version=version, digest="",
                                       size=0, index_entry="")
                now = utcnow()
                row.digest, row.size, row.created_at = pkg.digest, pkg.size, now
                row.prov_digest = prov_digest or (row.prov_digest if overwritten and prov_digest is None else None)
                self._fill(row, pkg, meta, principal, source)
                row.index_entry = render_entry(index_entry(meta, pkg.digest, now, [chart_url(name, version)]))
                s.add(row)
                record_blob(s, pkg.digest, pkg.size, CHART_MEDIA_TYPE)
                if not self._store.exists(paths.blob_key(pkg.digest)):
                    # GC deleted the (old, unreferenced) package between its upload and the upsert above,
                    # which now holds the row: refuse rather than record a version without bytes.
                    raise NotFound(f"{name}-{version}.tgz was garbage-collected meanwhile; push it again",
                                   code=codes.MANIFEST_BLOB_UNKNOWN if source == "oci" else NotFound.code)
                if in_tx is not None:
                    in_tx(s)
                if self.events is not None and source != "oci":
                    self.events.chart_published(s, project, row)
                self._run_hooks(s, ref, name)
                fragment = row.index_entry
        except IntegrityError as exc:
            # A concurrent upload of the same version committed first (PostgreSQL path).
            raise Conflict(f"{name}-{version}.tgz already exists in {project_name}") from exc
        self._index.apply(ref, added=[(name, version, fragment)],
                          removed=[(name, version)] if overwritten else [])
        return SavedChart(name=name, version=version, digest=pkg.digest, overwritten=overwritten)

    def upload_provenance(self, principal: Principal, project_name: str, prov: bytes) -> SavedChart:
        """Attach a provenance file to an existing version (ChartMuseum's ``POST /api/{repo}/prov``)."""
        project = self._project(project_name)
        self._auth.require(principal, project, Action.PUSH)
        info = parse_provenance(prov)
        with self._db.read() as s:
            row = _lookup(s, project, info.name, info.version)
        if row is None:
            raise NotFound(f"chart {info.name} {info.version} not found in {project_name}: "
                           "upload the chart before its provenance file")
        expected = f"{info.name}-{info.version}.tgz"
        if info.files.get(expected) != row.digest:
            raise Invalid(f"provenance file does not name the digest of {expected} ({row.digest})")
        prov_digest = self._put_prov(prov)
        with self._db.write() as s:
            stored = s.get(ChartVersion, row.id)
            if stored is None:
                raise NotFound(f"chart {info.name} {info.version} was deleted meanwhile")
            if stored.prov_digest and stored.prov_digest != prov_digest:
                raise Conflict(f"{expected}.prov already exists")
            stored.prov_digest = prov_digest
            s.add(stored)
            if self.events is not None and stored.source != "oci":
                self.events.chart_published(s, project, stored)  # the OCI view gains the provenance layer
        return SavedChart(name=info.name, version=info.version, digest=prov_digest)

    def delete(self, principal: Principal, project_name: str, name: str, version: str) -> None:
        project = self._project(project_name)
        self._auth.require(principal, project, Action.DELETE)
        with self._db.write() as s:
            ref = bump_index_rev(s, project.id)
            row = _lookup(s, project, name, version)
            if row is None:
                raise NotFound(f"chart {name} {version} not found in {project_name}")
            s.delete(row)
            if self.events is not None:
                self.events.chart_deleted(s, project, name, version)
            self._run_hooks(s, ref, name)
        # Blobs stay: another project or an OCI manifest may share them; garbage collection decides.
        self._index.apply(ref, removed=[(name, version)])

    # -- reads ----------------------------------------------------------------------------------------

    def list_all(self, principal: Principal, project_name: str) -> dict[str, list[dict[str, Any]]]:
        project = self._readable(principal, project_name)
        with self._db.read() as s:
            rows = s.exec(select(ChartVersion).where(ChartVersion.project_id == project.id)).all()
        return _group(rows)

    def list_versions(self, principal: Principal, project_name: str, name: str) -> list[dict[str, Any]]:
        project = self._readable(principal, project_name)
        with self._db.read() as s:
            rows = s.exec(select(ChartVersion).where(ChartVersion.project_id == project.id,
                                                     ChartVersion.name == name)).all()
        if not rows:
            raise NotFound(f"chart {name!r} not found in {project_name}")
        return _group(rows)[name]

    def get_version(self, principal: Principal, project_name: str, name: str, version: str) -> dict[str, Any]:
        project = self._readable(principal, project_name)
        with self._db.read() as s:
            row = _find(s, project, name, version)
        return _to_json(row)

    def download(self, principal: Principal, project_name: str, filename: str) -> ChartDownload:
        """Resolve ``<name>-<version>.tgz[.prov]`` to the blob to send (or a presigned redirect)."""
        project = self._readable(principal, project_name)
        candidates, is_prov = split_filename(filename)
        row = None
        with self._db.read() as s:
            for name, version in candidates:
                row = _lookup(s, project, name, version)
                if row is not None:
                    break
        if row is None or (is_prov and not row.prov_digest):
            raise NotFound(f"no chart file {filename!r} in {project_name}")
        digest = row.prov_digest if is_prov and row.prov_digest else row.digest
        size = row.size if not is_prov else self._store.stat(paths.blob_key(digest)).size
        key = paths.blob_key(digest)
        redirect = self._store.presigned_url(key, self._presign_expiry) if self._presign else None
        return ChartDownload(key=key, size=size, digest=digest, redirect_url=redirect,
                             content_type="application/pgp-signature" if is_prov else "application/gzip")

    def open_blob(self, key: str) -> Iterator[bytes]:
        return self._store.open(key)

    def readable_project(self, principal: Principal, project_name: str) -> Project:
        return self._readable(principal, project_name)

    # -- helpers --------------------------------------------------------------------------------------

    def _run_hooks(self, s: Session, ref: ProjectRef, name: str) -> None:
        if self.hooks:
            s.flush()
            for hook in self.hooks:
                hook(s, ref, name)

    def _project(self, name: str) -> Project:
        with self._db.read() as s:
            return get_project(s, name)

    def _readable(self, principal: Principal, name: str) -> Project:
        project = self._project(name)
        self._auth.require(principal, project, Action.PULL)
        return project

    def _put_blob(self, digest: str, stream: BinaryIO, size: int) -> None:
        """Content-addressed, so an existing object already holds exactly these bytes."""
        key = paths.blob_key(digest)
        if not self._store.exists(key):
            self._store.put(key, stream, size)

    def _put_prov(self, prov: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(prov).hexdigest()
        key = paths.blob_key(digest)
        with self._db.write() as s:  # the refreshed row first: GC then keeps an object seen below
            record_blob(s, digest, len(prov), PROV_MEDIA_TYPE)
        if not self._store.exists(key):
            self._store.put_bytes(key, prov)
        return digest

    @staticmethod
    def _fill(row: ChartVersion, pkg: ChartPackage, meta: dict[str, Any], principal: Principal,
              source: str) -> None:
        md = pkg.metadata
        row.app_version = md.app_version or ""
        row.description = md.description or ""
        row.chart_type = md.type or "application"
        row.deprecated = bool(md.deprecated)
        row.icon = md.icon or ""
        row.keywords = list(md.keywords or [])
        row.annotations = dict(md.annotations or {})
        row.metadata_json = meta
        row.readme = pkg.readme
        row.values_yaml = pkg.values_yaml
        row.values_schema = pkg.values_schema
        row.source = source
        row.pushed_by = principal.name


def _lookup(s: Session, project: Project, name: str, version: str) -> ChartVersion | None:
    return s.exec(select(ChartVersion).where(ChartVersion.project_id == project.id, ChartVersion.name == name,
                                             ChartVersion.version == version)).first()


def _find(s: Session, project: Project, name: str, version: str) -> ChartVersion:
    row = _lookup(s, project, name, version)
    if row is None:
        raise NotFound(f"chart {name} {version} not found in {project.name}")
    return row


def _to_json(row: ChartVersion) -> dict[str, Any]:
    return chart_version_json(row.metadata_json, row.digest, created_text(row.created_at),
                              chart_url(row.name, row.version))


def _group(rows: Any) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[ChartVersion]] = {}
    for row in rows:
        grouped.setdefault(row.name, []).append(row)
    return {name: [_to_json(r) for r in sorted(versions, key=lambda r: semver_sort_key(r.version), reverse=True)]
            for name, versions in sorted(grouped.items())}
