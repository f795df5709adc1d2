"""Helm charts as OCI artifacts: both views of one chart, kept consistent.

* ``helm push`` → the chart layer is validated by the HTTP path's own ``inspect_chart`` and recorded as a
  ``ChartVersion`` (source "oci"), so it appears in ``/{project}/index.yaml``.
* A ChartMuseum upload → ``synthesize`` writes the manifest helm would have pushed (config = Chart.yaml
  metadata as helm's JSON, layer = the same chart blob), so ``helm pull oci://`` works with no copy.
* Deletes in either view remove the other (``ChartEvents`` hooks, run inside ChartService transactions).
"""

from __future__ import annotations

import json
import tempfile
from typing import Any, BinaryIO, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select, update

from appmarket.db.models import Blob, ChartVersion, OciManifest, OciManifestRef, OciTag, Project, utcnow
from appmarket.db.queries import record_blob
from appmarket.errors import Invalid
from appmarket.repo import paths
from appmarket.repo.chart_package import ChartPackage, inspect_chart
from appmarket.repo.oci import codes
from appmarket.repo.oci.access import link_blob
from appmarket.repo.oci.manifest import HELM_CHART, HELM_CONFIG, HELM_PROV, OCI_MANIFEST, Parsed
from appmarket.repo.oci.reference import NAME_RE, TAG_RE, chart_tag, digest_of
from appmarket.settings import ChartLimits
from appmarket.storage.base import BlobStore

# Go's field order of helm's chart.Metadata, which is how `helm push` serialises the config blob.
_GO_ORDER = ("name", "home", "sources", "version", "description", "keywords", "maintainers", "icon",
             "apiVersion", "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion",
             "dependencies", "type")


def helm_config_json(metadata: dict[str, Any]) -> bytes:
    ordered = {k: metadata[k] for k in _GO_ORDER if k in metadata}
    ordered.update({k: v for k, v in metadata.items() if k not in ordered})
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()


def chart_layers(parsed: Parsed) -> tuple[str, str | None]:
    """The chart layer digest and the optional provenance layer digest of a helm manifest."""
    charts = [d for d in parsed.layers if d.mediaType == HELM_CHART]
    provs = [d for d in parsed.layers if d.mediaType == HELM_PROV]
    if len(charts) != 1 or len(provs) > 1:
        raise Invalid("a helm chart manifest needs exactly one chart layer and at most one provenance layer",
                      code=codes.MANIFEST_INVALID)
    return charts[0].digest, provs[0].digest if provs else None


def inspect_layer(store: BlobStore, digest: str, limits: ChartLimits) -> ChartPackage:
    """Validate a pushed chart layer exactly like an HTTP upload (streamed through a spool file)."""
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        for chunk in store.open(paths.blob_key(digest)):
            spool.write(chunk)
        spool.seek(0)
        try:
            return inspect_chart(cast(BinaryIO, spool), limits)
        except Invalid as exc:
            raise Invalid(f"chart layer: {exc.message}", code=codes.MANIFEST_INVALID) from exc


def detach_version(s: Session, repository: str, version: str, keep_digest: str | None = None) -> list[str]:
    """Forget which manifests carried ``version`` (except ``keep_digest``); return their digests."""
    rows = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                            OciManifest.chart_version == version)).all()
    gone = [r.digest for r in rows if r.digest != keep_digest]
    if gone:
        s.exec(update(OciManifest).where(col(OciManifest.repository) == repository,
                                         col(OciManifest.digest).in_(gone)).values(chart_version=None))
    return gone


class ChartEvents:
    """Hooks ChartService calls inside its transactions (registered in ``services.py``)."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store

    def chart_published(self, s: Session, project: Project, row: ChartVersion) -> None:
        repository = f"{project.name}/{row.name}"
        tag = chart_tag(row.version)
        if not NAME_RE.fullmatch(repository) or not TAG_RE.fullmatch(tag) or project.id is None:
            return  # not addressable over OCI (legacy chart names); the HTTP view still has it
        config = helm_config_json(row.metadata_json)
        config_digest = digest_of(config)
        layers: list[dict[str, Any]] = [{"mediaType": HELM_CHART, "digest": row.digest, "size": row.size}]
        if row.prov_digest:
            prov = s.get(Blob, row.prov_digest)
            if prov is not None:
                layers.append({"mediaType": HELM_PROV, "digest": row.prov_digest, "size": prov.size})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layers,
            "annotations": {"org.opencontainers.image.title": row.name,
                            "org.opencontainers.image.version": row.version},
        }, separators=(",", ":")).encode()
        digest = digest_of(manifest)
        record_blob(s, config_digest, len(config), HELM_CONFIG)
        record_blob(s, digest, len(manifest), OCI_MANIFEST)
        for blob_digest, data in ((config_digest, config), (digest, manifest)):
            key = paths.blob_key(blob_digest)
            if not self._store.exists(key):  # checked after the upserts: GC cannot take it now
                self._store.put_bytes(key, data)
        for linked in [config_digest, *(str(x["digest"]) for x in layers)]:
            link_blob(s, project.id, repository, linked)
        detach_version(s, repository, row.version, keep_digest=digest)
        existing = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                                    OciManifest.digest == digest)).first()
        if existing is None:
            existing = OciManifest(project_id=project.id, repository=repository, digest=digest,
                                   media_type=OCI_MANIFEST, size=len(manifest), artifact_type=HELM_CONFIG,
                                   annotations={}, platforms=[])
            s.add(existing)
            s.flush()
            assert existing.id is not None
            s.add(OciManifestRef(manifest_id=existing.id, digest=config_digest, kind="config"))
            for layer in layers:
                s.add(OciManifestRef(manifest_id=existing.id, digest=str(layer["digest"]), kind="layer"))
        existing.chart_version = row.version
        s.add(existing)
        set_tag(s, project.id, repository, tag, digest)

    def chart_deleted(self, s: Session, project: Project, name: str, version: str) -> None:
        repository = f"{project.name}/{name}"
        rows = s.exec(select(OciManifest).where(OciManifest.repository == repository,
                                                OciManifest.chart_version == version)).all()
        digests = [r.digest for r in rows]
        if digests:
            s.exec(delete(OciTag).where(col(OciTag.repository) == repository,
                                        col(OciTag.digest).in_(digests)))
            for r in rows:
                s.delete(r)
        tag = s.exec(select(OciTag).where(OciTag.repository == repository,
                                          OciTag.name == chart_tag(version))).first()
        if tag is not None:
            s.delete(tag)


def _upsert_tag(insert: Any) -> Any:
    stmt = insert(OciTag)
    return stmt.on_conflict_do_update(index_elements=["repository", "name"],
                                      set_={"digest": stmt.excluded.digest, "updated_at": stmt.excluded.updated_at})


_SET_TAG = {"postgresql": _upsert_tag(postgresql.insert), "sqlite": _upsert_tag(sqlite.insert)}


def set_tag(s: Session, project_id: int, repository: str, name: str, digest: str) -> None:
    """Point a tag at ``digest``, creating it if needed: one upsert (idempotent under races)."""
    dialect = "postgresql" if s.get_bind().dialect.name == "postgresql" else "sqlite"
    s.connection().execute(_SET_TAG[dialect], {"project_id": project_id, "repository": repository, "name": name,
                                               "digest": digest, "updated_at": utcnow()})
