"""Manifests and tags: PUT (validated, exact bytes kept), GET/HEAD, DELETE, tag lists and referrers.

A manifest is a blob (its exact bytes, content-addressed) plus an ``OciManifest`` row with the digests
it references (``OciManifestRef``: what GC marks) and what the catalog asks later (platforms, subject,
artifact type). A helm chart manifest also becomes a ``ChartVersion`` in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import bindparam
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, delete, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.db.models import Blob, ChartVersion, OciManifest, OciManifestRef, OciRepoBlob, OciTag, Project, utcnow
from appmarket.db.queries import record_blob
from appmarket.errors import Invalid, NotFound, TooLarge
from appmarket.repo import paths
from appmarket.repo.charts import ChartService
from appmarket.repo.oci import codes, helm
from appmarket.repo.oci.access import RegistryBase, blob_in_repository, linked_digests, touch_blobs
from appmarket.repo.oci.manifest import IMAGE_CONFIGS, Descriptor, Parsed, config_platform, parse_manifest
from appmarket.repo.oci.reference import chart_tag, check_digest, check_tag, digest_of, is_digest
from appmarket.repo.provenance import check_provenance
from appmarket.settings import ChartLimits, OciSettings

_MANIFEST = OciManifest.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
_REF = OciManifestRef.__table__  # type: ignore[attr-defined]
# Built once with bound parameters: on the push path, building a statement costs more than running it.
_MANIFEST_ID = sa_select(_MANIFEST.c.id).where(_MANIFEST.c.repository == bindparam("repository"),
                                               _MANIFEST.c.digest == bindparam("digest"))
_INSERT_MANIFEST = sa_insert(_MANIFEST).returning(_MANIFEST.c.id)
_CHART_VERSION_OF = select(OciManifest.chart_version).where(OciManifest.repository == bindparam("repository"),
                                                            OciManifest.digest == bindparam("digest"))
_CHART = select(ChartVersion).where(ChartVersion.project_id == bindparam("project_id"),
                                    ChartVersion.name == bindparam("name"),
                                    ChartVersion.version == bindparam("version"))


def _required(parsed: Parsed) -> list[str]:
    """Digests that must be in the registry for the manifest to be accepted: child manifests of an
    index; config and layers of an image, except foreign layers (fetched from elsewhere)."""
    if parsed.is_index:
        return [d.digest for d in parsed.manifests]
    return [d.digest for d in parsed.blob_refs if "foreign" not in d.mediaType]


class ManifestInfo(msgspec.Struct, frozen=True):
    digest: str
    media_type: str
    size: int
    key: str
    subject: str | None = None


class ManifestService(RegistryBase):
    def __init__(self, *args: Any, charts: ChartService, limits: ChartLimits, oci: OciSettings) -> None:
        super().__init__(*args)
        self._charts = charts
        self._limits = limits
        self._oci = oci
        self._cache: dict[str, bytes] = {}

    # -- push -----------------------------------------------------------------------------------------

    def put(self, principal: Principal, repository: str, reference: str, body: bytes,
            content_type: str | None, extra_tags: list[str] | None = None) -> ManifestInfo:
        project = self.project_for(principal, repository, Action.PUSH)
        if len(body) > self._oci.max_manifest_bytes:
            raise TooLarge(f"manifest exceeds {self._oci.max_manifest_bytes} bytes", code=codes.TOO_LARGE)
        tags = [check_tag(t) for t in ([] if is_digest(reference) else [reference]) + (extra_tags or [])]
        if is_digest(reference):
            check_digest(reference)
            digest = digest_of(body, reference.partition(":")[0])
            if digest != reference:
                raise Invalid(f"manifest digest is {digest}, not {reference}", code=codes.DIGEST_INVALID)
        else:
            digest = digest_of(body)
        parsed = parse_manifest(body, content_type)
        platforms = self._check_references(repository, parsed)
        info = ManifestInfo(digest=digest, media_type=parsed.media_type, size=len(body), key=paths.blob_key(digest),
                            subject=parsed.subject.digest if parsed.subject else None)
        if parsed.is_helm_chart and self._retag_recorded_chart(principal, project, repository, info, tags, parsed):
            return info
        chart = None
        if parsed.is_helm_chart:
            chart = self._check_chart(repository, parsed, tags)
        if not self._store.exists(info.key):
            self._store.put_bytes(info.key, body)

        def record(s: Session) -> None:
            assert project.id is not None
            self._record(s, project.id, repository, digest, body, parsed, platforms,
                         chart.metadata.version if chart else None, tags)
            if not self._store.exists(info.key):  # GC took the bytes between the write above and the upsert
                self._store.put_bytes(info.key, body)

        if chart is not None:
            _, prov_digest = helm.chart_layers(parsed)
            with self._queued():
                self._charts.record(principal, project, chart, prov_digest, force=True, source="oci", in_tx=record)
        else:
            with self._write() as s:
                record(s)
        return info

    def _retag_recorded_chart(self, principal: Principal, project: Project, repository: str, info: ManifestInfo,
                              tags: list[str], parsed: Parsed) -> bool:
        """Tag a chart manifest this repository already recorded (helm PUTs by digest, then by tag).

        The bytes are content-addressed and passed the chart checks (the HTTP path's ``inspect_chart``,
        provenance, name) when they were recorded here as this version, so checking them again cannot change
        the outcome; the ChartVersion already holds what recording it again would write (same package,
        source and pusher). Only the tags change. False (nothing written) sends anything else down the
        full path: a first push, another pusher, a tag that is not the chart's version.
        """
        chart_digest, prov_digest = helm.chart_layers(parsed)
        name = repository.partition("/")[2]

        def recorded_version(s: Session) -> str | None:
            """The chart version this manifest is recorded as, when recording it again would change nothing."""
            row = s.exec(_CHART_VERSION_OF, params={"repository": repository, "digest": info.digest}).first()
            if row is None or any(t != chart_tag(row) for t in tags):
                return None
            chart = s.exec(_CHART, params={"project_id": project.id, "name": name, "version": row}).first()
            same = chart is not None and chart.digest == chart_digest and chart.source == "oci" \
                and chart.pushed_by == principal.name and prov_digest in (None, chart.prov_digest)
            return row if same else None

        with self._db.read() as s:  # a first push (the common case) costs one read, no write transaction
            if recorded_version(s) is None or not self._store.exists(info.key):
                return False
        assert project.id is not None
        with self._write() as s:
            if recorded_version(s) is None:  # changed meanwhile (a delete, a re-push): take the full path
                return False
            for tag in tags:  # the manifest row references its blob: GC keeps it without a touch
                helm.set_tag(s, project.id, repository, tag, info.digest)
        return True

    def _check_references(self, repository: str, parsed: Parsed) -> list[str]:
        """Every referenced blob/manifest must be in the repository; return the platforms served."""
        with self._db.read() as s:
            if parsed.is_index:
                known = set(s.exec(select(OciManifest.digest).where(
                    OciManifest.repository == repository,
                    col(OciManifest.digest).in_([d.digest for d in parsed.manifests]))).all())
                missing = [d.digest for d in parsed.manifests if d.digest not in known]
                platforms = parsed.platforms
                if not platforms:
                    rows = s.exec(select(OciManifest.platforms).where(OciManifest.repository == repository,
                                                                      col(OciManifest.digest).in_(known))).all()
                    platforms = sorted({p for r in rows for p in r})
            else:
                wanted = _required(parsed)
                known = linked_digests(s, repository, wanted)
                missing = [d for d in wanted if d not in known]
                platforms = []
        if missing:
            raise NotFound(f"manifest references unknown {missing[0]}", code=codes.MANIFEST_BLOB_UNKNOWN)
        if parsed.config is not None and parsed.config.mediaType in IMAGE_CONFIGS and parsed.config.size <= 1 << 20:
            platform = config_platform(self._store.get_bytes(paths.blob_key(parsed.config.digest)))
            platforms = [platform] if platform else []
        return platforms

    def _check_chart(self, repository: str, parsed: Parsed, tags: list[str]) -> Any:
        chart_digest, prov_digest = helm.chart_layers(parsed)
        pkg = helm.inspect_layer(self._store, chart_digest, self._limits)
        if prov_digest is not None:  # the same provenance checks as the HTTP upload path
            try:
                check_provenance(self._store.get_bytes(paths.blob_key(prov_digest)), pkg)
            except Invalid as exc:
                raise Invalid(f"provenance layer: {exc.message}", code=codes.MANIFEST_INVALID) from exc
        project_name, rest = repository.split("/", 1)
        if rest != pkg.metadata.name:
            raise Invalid(f"chart {pkg.metadata.name!r} must be pushed to {project_name}/{pkg.metadata.name}",
                          code=codes.MANIFEST_INVALID)
        want = chart_tag(pkg.metadata.version)
        if any(t != want for t in tags):
            raise Invalid(f"chart version {pkg.metadata.version} must be tagged {want}", code=codes.MANIFEST_INVALID)
        return pkg

    @staticmethod
    def _record(s: Session, project_id: int, repository: str, digest: str, body: bytes, parsed: Parsed,
                platforms: list[str], chart_version: str | None, tags: list[str]) -> None:
        """Core statements (no ORM unit of work): this runs inside every push's write transaction.

        The referenced rows are touched first: the reference check above ran outside this transaction,
        and a blob GC deleted since then must refuse the manifest, not leave it pointing at nothing.
        """
        missing = touch_blobs(s, _required(parsed))
        if missing:
            raise NotFound(f"manifest references unknown {missing[0]}", code=codes.MANIFEST_BLOB_UNKNOWN)
        record_blob(s, digest, len(body), parsed.media_type)
        conn = s.connection()
        found = conn.execute(_MANIFEST_ID, {"repository": repository, "digest": digest}).first()
        if found is None:
            manifest_id = conn.execute(_INSERT_MANIFEST, {
                "project_id": project_id, "repository": repository, "digest": digest, "media_type": parsed.media_type,
                "size": len(body), "artifact_type": parsed.artifact_type,
                "subject_digest": parsed.subject.digest if parsed.subject else None,
                "annotations": parsed.annotations, "platforms": platforms, "chart_version": chart_version,
                "created_at": utcnow()}).scalar_one()
            refs: list[tuple[Descriptor, str]] = [(d, "manifest") for d in parsed.manifests]
            refs += [(d, "config") for d in ([parsed.config] if parsed.config else [])]
            refs += [(d, "layer") for d in parsed.layers]
            if refs:
                conn.execute(sa_insert(_REF), [{"manifest_id": manifest_id, "digest": d.digest, "kind": kind}
                                               for d, kind in refs])
        elif chart_version is not None:
            conn.execute(sa_update(_MANIFEST).where(_MANIFEST.c.id == found[0]).values(chart_version=chart_version))
        if chart_version is not None:
            helm.detach_version(s, repository, chart_version, keep_digest=digest)
        for tag in tags:
            helm.set_tag(s, project_id, repository, tag, digest)

    # -- pull -----------------------------------------------------------------------------------------

    def resolve(self, principal: Principal, repository: str, reference: str) -> ManifestInfo:
        """One indexed query (tag joined to manifest), on the Core layer: the pull hot path."""
        self.project_for(principal, repository, Action.PULL)
        m = OciManifest.__table__  # type: ignore[attr-defined]  # sqlmodel does not type __table__
        t = OciTag.__table__  # type: ignore[attr-defined]
        stmt = sa_select(m.c.digest, m.c.media_type, m.c.size, m.c.subject_digest).where(m.c.repository == repository)
        if is_digest(reference):
            stmt = stmt.where(m.c.digest == reference)
        else:
            stmt = stmt.join(t, (t.c.repository == m.c.repository) & (t.c.digest == m.c.digest)).where(
                t.c.name == reference)
        with self._db.statement() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFound(f"manifest {reference} not found in {repository}", code=codes.MANIFEST_UNKNOWN)
        return ManifestInfo(digest=row[0], media_type=row[1], size=row[2], key=paths.blob_key(row[0]),
                            subject=row[3])

    def platforms_of(self, repository: str, reference: str) -> list[str]:
        """Which ``os/arch`` an image (tag or digest) supports: for the catalog and the installer."""
        with self._db.read() as s:
            digest = reference if is_digest(reference) else self._tag_digest(s, repository, reference)
            row = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                                   OciManifest.digest == digest)).first()
        if row is None:
            raise NotFound(f"manifest {reference} not found in {repository}", code=codes.MANIFEST_UNKNOWN)
        return list(row.platforms)

    @staticmethod
    def _tag_digest(s: Session, repository: str, tag: str) -> str:
        row = s.exec(select(OciTag).where(OciTag.repository == repository, OciTag.name == tag)).first()
        if row is None:
            raise NotFound(f"tag {tag} not found in {repository}", code=codes.MANIFEST_UNKNOWN)
        return row.digest

    def fetch(self, principal: Principal, repository: str, reference: str,
              body: bool) -> tuple[ManifestInfo, bytes]:
        """Resolve and (for GET) read in one call: one thread hop per request on the hot path."""
        info = self.resolve(principal, repository, reference)
        return info, self.read(info) if body else b""

    def read(self, info: ManifestInfo) -> bytes:
        """Manifest bytes; content-addressed and immutable, so a small in-process cache is always right."""
        data = self._cache.get(info.digest)
        if data is None:
            data = self._store.get_bytes(info.key)
            if len(data) <= 64 * 1024:
                if len(self._cache) >= 1024:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[info.digest] = data
        return data

    # -- delete ---------------------------------------------------------------------------------------

    def delete(self, principal: Principal, repository: str, reference: str) -> None:
        """By digest: the manifest and its tags; by tag: the tag. A chart's version goes with it."""
        project = self.project_for(principal, repository, Action.DELETE)
        with self._db.read() as s:
            if is_digest(reference):
                check_digest(reference)
                row = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                                       OciManifest.digest == reference)).first()
                if row is None:
                    raise NotFound(f"manifest {reference} not found", code=codes.MANIFEST_UNKNOWN)
                chart_version = row.chart_version
            else:
                digest = self._tag_digest(s, repository, reference)
                row = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                                       OciManifest.digest == digest)).first()
                chart_version = row.chart_version if row and chart_tag(row.chart_version or "") == reference \
                    else None
        if chart_version is not None:
            # ChartService removes the version and, through its events hook, this manifest and its tags.
            with contextlib.suppress(NotFound):
                self._charts.delete(principal, project.name, repository.split("/", 1)[1], chart_version)
        self._delete_rows(project, repository, reference)

    def _delete_rows(self, project: Project, repository: str, reference: str) -> None:
        with self._write() as s:
            if is_digest(reference):
                s.exec(delete(OciTag).where(col(OciTag.repository) == repository,
                                            col(OciTag.digest) == reference))
                s.exec(delete(OciManifest).where(
                    col(OciManifest.repository) == repository, col(OciManifest.digest) == reference))
            else:
                s.exec(delete(OciTag).where(col(OciTag.repository) == repository,
                                            col(OciTag.name) == reference))
        del project

    # -- discovery ------------------------------------------------------------------------------------

    def tags(self, principal: Principal, repository: str, n: int | None,
             last: str | None) -> tuple[list[str], bool]:
        """One page of tag names after ``last``, and whether more follow (one row past the page tells)."""
        self.project_for(principal, repository, Action.PULL)
        with self._db.read() as s:
            if not self._exists(s, repository):
                raise NotFound(f"repository {repository} not known", code=codes.NAME_UNKNOWN)
            stmt = select(OciTag.name).where(OciTag.repository == repository)
            if last:
                stmt = stmt.where(OciTag.name > last)
            stmt = stmt.order_by(col(OciTag.name))
            if n is not None:
                stmt = stmt.limit(n + 1)
            names = list(s.exec(stmt).all())
        return (names, False) if n is None else (names[:n], len(names) > n)

    @staticmethod
    def _exists(s: Session, repository: str) -> bool:
        return any(s.exec(select(model.id).where(model.repository == repository).limit(1)).first() is not None
                   for model in (OciTag, OciManifest, OciRepoBlob))

    def referrers(self, principal: Principal, repository: str, digest: str,
                  artifact_type: str | None) -> list[Descriptor]:
        self.project_for(principal, repository, Action.PULL)
        check_digest(digest)
        with self._db.read() as s:
            stmt = select(OciManifest).where(OciManifest.repository == repository,
                                             OciManifest.subject_digest == digest)
            if artifact_type:
                stmt = stmt.where(OciManifest.artifact_type == artifact_type)
            rows = s.exec(stmt.order_by(col(OciManifest.id))).all()
        return [Descriptor(mediaType=r.media_type, digest=r.digest, size=r.size, artifactType=r.artifact_type,
                           annotations=r.annotations or None) for r in rows]

    def catalog(self, principal: Principal, n: int | None, last: str | None,
                may_pull: Callable[[Principal, Project], bool]) -> tuple[list[str], bool]:
        """One page of the repositories the caller may pull from, and whether more follow."""
        with self._db.read() as s:
            projects = {p.id: p for p in s.exec(select(Project)).all()}
            names = set(s.exec(select(OciManifest.repository, OciManifest.project_id)).all())
            names |= set(s.exec(select(OciRepoBlob.repository, OciRepoBlob.project_id)).all())
        visible = sorted({name for name, pid in names if pid in projects and may_pull(principal, projects[pid])})
        if last:
            visible = [v for v in visible if v > last]
        return (visible, False) if n is None else (visible[:n], len(visible) > n)

    def blob_info(self, principal: Principal, repository: str, digest: str) -> Blob:
        self.project_for(principal, repository, Action.PULL)
        check_digest(digest)
        with self._db.read() as s:
            blob = blob_in_repository(s, repository, digest)
        if blob is None:
            raise NotFound(f"blob {digest} not found in {repository}", code=codes.BLOB_UNKNOWN)
        return blob

    def unlink_blob(self, principal: Principal, repository: str, digest: str) -> None:
        self.project_for(principal, repository, Action.DELETE)
        check_digest(digest)
        with self._write() as s:
            row = s.exec(select(OciRepoBlob).where(OciRepoBlob.repository == repository,
                                                   OciRepoBlob.digest == digest)).first()
            if row is None:
                raise NotFound(f"blob {digest} not found in {repository}", code=codes.BLOB_UNKNOWN)
            s.delete(row)
