"""A project's OCI repositories as people browse them: tags, digests, kinds, platforms and sizes.

Read from the rows the registry records at push time (``OciManifest``, ``OciTag``, ``OciManifestRef``
joined to ``Blob`` sizes): three queries per project, no storage reads, so the page stays cheap however
large the images are. The web UI shows it, the management API serves it as JSON (``schemas.py``); the
``/v2`` surface keeps its own protocol listings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import msgspec
from sqlalchemy import distinct, func
from sqlmodel import Session, col, select

from appmarket.auth.permissions import Action
from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.models import Blob, OciManifest, OciManifestRef, OciTag, Project
from appmarket.errors import NotFound
from appmarket.repo.oci import codes
from appmarket.repo.oci.manifest import HELM_CONFIG, INDEX_TYPES
from appmarket.repo.oci.schemas import ImageOut, Platform, RepositoryOut, TagOut

MAX_TAGS = 500
"""Tags listed per repository (newest first); the rest is counted, not listed."""


class PlatformImage(msgspec.Struct, frozen=True):
    """One image of an index: what it runs on and how big it is."""

    platform: str
    digest: str
    size: int
    platforms: list[str] = []
    """As recorded, ``os/architecture[/variant]`` each (``platform`` is these joined for display)."""


class TagView(msgspec.Struct, frozen=True):
    tag: str
    digest: str
    media_type: str
    kind: str
    """image | index | helm chart | artifact."""
    platforms: list[str]
    size: int
    """Manifest plus everything it references (config and layers; for an index, all its images)."""
    updated_at: dt.datetime
    images: list[PlatformImage] = []
    manifest_size: int = 0
    """The manifest's own bytes."""


class RepositoryView(msgspec.Struct, frozen=True):
    repository: str
    """The full name, ``project/path``."""
    name: str
    """The name within the project."""
    tags: list[TagView]
    more_tags: int = 0
    untagged: int = 0
    """Manifests reachable by digest only (not counting the images of a tagged index)."""


def kind_of(media_type: str, artifact_type: str | None, chart_version: str | None) -> str:
    if media_type in INDEX_TYPES:
        return "index"
    if chart_version is not None or artifact_type == HELM_CONFIG:
        return "helm chart"
    # parse_manifest sets artifact_type from a config that is neither an image config nor empty.
    return "artifact" if artifact_type else "image"


def project_repositories(s: Session, project_id: int, repository: str | None = None) -> list[RepositoryView]:
    """Every repository of the project, or just ``repository`` (empty when it holds nothing)."""
    in_manifests = [OciManifest.project_id == project_id]
    in_tags = [OciTag.project_id == project_id]
    if repository is not None:
        in_manifests.append(OciManifest.repository == repository)
        in_tags.append(OciTag.repository == repository)
    manifests = s.exec(select(OciManifest).where(*in_manifests)).all()
    tags = s.exec(select(OciTag).where(*in_tags)
                  .order_by(col(OciTag.repository), col(OciTag.updated_at).desc(), col(OciTag.name))).all()
    refs = s.exec(select(OciManifestRef.manifest_id, OciManifestRef.digest, OciManifestRef.kind, Blob.size)
                  .join(OciManifest, col(OciManifest.id) == OciManifestRef.manifest_id)
                  .join(Blob, col(Blob.digest) == OciManifestRef.digest, isouter=True)
                  .where(*in_manifests)).all()
    by_key = {(m.repository, m.digest): m for m in manifests}
    blob_bytes: dict[int, int] = defaultdict(int)
    children: dict[int, list[str]] = defaultdict(list)
    for manifest_id, digest, kind, size in refs:
        if kind == "manifest":
            children[manifest_id].append(digest)
        else:
            blob_bytes[manifest_id] += size or 0

    def images_of(m: OciManifest) -> list[PlatformImage]:
        out = []
        for digest in children.get(m.id or 0, []):
            child = by_key.get((m.repository, digest))
            if child is not None:
                out.append(PlatformImage(platform=", ".join(child.platforms) or "unknown", digest=digest,
                                         size=child.size + blob_bytes.get(child.id or 0, 0),
                                         platforms=list(child.platforms)))
        return sorted(out, key=lambda i: i.platform)

    def view(tag: OciTag) -> TagView | None:
        m = by_key.get((tag.repository, tag.digest))
        if m is None:
            return None
        images = images_of(m)
        size = m.size + (sum(i.size for i in images) if images else blob_bytes.get(m.id or 0, 0))
        return TagView(tag=tag.name, digest=m.digest, media_type=m.media_type,
                       kind=kind_of(m.media_type, m.artifact_type, m.chart_version), platforms=list(m.platforms),
                       size=size, updated_at=tag.updated_at, images=images, manifest_size=m.size)

    tagged: dict[str, list[TagView]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for tag in tags:
        counts[tag.repository] += 1
        if len(tagged[tag.repository]) < MAX_TAGS and (v := view(tag)) is not None:
            tagged[tag.repository].append(v)
    reached = {(t.repository, t.digest) for t in tags}
    reached |= {(repo, i.digest) for repo, views in tagged.items() for v in views for i in v.images}
    loose: dict[str, int] = defaultdict(int)
    for key, m in by_key.items():
        if key not in reached and m.subject_digest is None:  # referrers (signatures, SBOMs) are not "untagged"
            loose[m.repository] += 1
    names = sorted(set(tagged) | set(loose))
    return [RepositoryView(repository=r, name=r.split("/", 1)[1] if "/" in r else r, tags=tagged.get(r, []),
                           more_tags=counts[r] - len(tagged.get(r, [])) if counts[r] > MAX_TAGS else 0,
                           untagged=loose.get(r, 0)) for r in names]


def repositories(db: Database, auth: AuthService, principal: Principal, project_name: str,
                 repository: str | None = None) -> list[RepositoryView]:
    """A project's repositories (or one), for whoever may pull from it (the registry's own permission)."""
    with db.read() as s:
        project = s.exec(select(Project).where(Project.name == project_name)).first()
        if project is None or project.id is None:
            raise NotFound(f"project {project_name!r} does not exist", code=codes.NAME_UNKNOWN)
        auth.require(principal, project, Action.PULL)
        return project_repositories(s, project.id, repository)


def repository_list(db: Database, auth: AuthService, principal: Principal, project_name: str) -> list[RepositoryOut]:
    return [RepositoryOut(repository=r.repository, name=r.name, tags=len(r.tags) + r.more_tags, untagged=r.untagged)
            for r in repositories(db, auth, principal, project_name)]


def repository_tags(db: Database, auth: AuthService, principal: Principal, project_name: str,
                    name: str) -> list[TagOut]:
    """One repository's tags (newest first, at most ``MAX_TAGS``) with digests, sizes and platforms."""
    repository = f"{project_name}/{name}"
    found = repositories(db, auth, principal, project_name, repository)
    if not found or found[0].repository != repository:
        raise NotFound(f"repository {repository} not known", code=codes.NAME_UNKNOWN)
    return [TagOut(tag=t.tag, digest=t.digest, media_type=t.media_type, kind=t.kind, size=t.manifest_size,
                   total_size=t.size, platforms=[Platform.parse(p) for p in t.platforms],
                   images=[ImageOut(digest=i.digest, size=i.size, platforms=[Platform.parse(p) for p in i.platforms])
                           for i in t.images],
                   updated_at=t.updated_at) for t in found[0].tags]


def repository_counts(db: Database) -> dict[str, int]:
    """Tagged repositories per project name (one grouped query); callers show only projects they may read."""
    with db.read() as s:
        rows = s.exec(select(Project.name, func.count(distinct(col(OciTag.repository))))
                      .join(OciTag, col(OciTag.project_id) == Project.id).group_by(col(Project.name))).all()
    return {name: int(count) for name, count in rows}
