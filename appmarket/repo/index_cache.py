"""Per-project Helm index, projected from the database and kept warm in memory.

The index bytes are assembled from per-version YAML fragments rendered once at upload
(``ChartVersion.index_entry``), so a change costs one fragment insert plus a join, never a re-render of
every entry. Each replica caches the assembled bytes with an ETag derived from the project's
``index_rev``; a writer in this process updates the cache in place after its commit, and other replicas
notice a new revision within ``revalidate_seconds`` by asking the database for the project row.
"""

from __future__ import annotations

import bisect
import gzip
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import Session, select

from appmarket.db.engine import Database
from appmarket.db.models import ChartVersion, Project
from appmarket.db.queries import ProjectRef
from appmarket.errors import NotFound
from appmarket.repo.index import render_index, semver_sort_key


def _project_ref(s: Session, project_name: str) -> ProjectRef:
    p = s.exec(select(Project).where(Project.name == project_name)).first()
    if p is None or p.id is None:
        raise NotFound(f"project {project_name!r} not found")
    return ProjectRef(id=p.id, name=p.name, visibility=p.visibility, rev=p.index_rev,
                      changed_at=p.index_changed_at)


class IndexSnapshot:
    """Immutable index bytes for one revision; the gzip form is made on first request."""

    __slots__ = ("_gzip", "_lock", "body", "etag", "last_modified", "project")

    def __init__(self, project: ProjectRef, body: bytes) -> None:
        self.project = project
        self.body = body
        self.etag = f'"idx-{project.id}-{project.rev}"'
        self.last_modified = project.changed_at
        self._gzip: bytes | None = None
        self._lock = threading.Lock()

    def gzipped(self) -> bytes:
        with self._lock:
            if self._gzip is None:
                self._gzip = gzip.compress(self.body, compresslevel=5, mtime=0)
            return self._gzip


@dataclass
class _Entry:
    ref: ProjectRef
    # chart name -> sorted list of (sort key, version, fragment), ascending; rendered newest first.
    charts: dict[str, list[tuple[tuple[object, ...], str, str]]] = field(default_factory=dict)
    snapshot: IndexSnapshot | None = None
    checked_at: float = 0.0


class IndexCache:
    def __init__(self, db: Database, revalidate_seconds: float) -> None:
        self._db = db
        self._ttl = revalidate_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()

    def fresh(self, project_name: str) -> IndexSnapshot | None:
        """The cached snapshot if it was validated within the revalidation window (no I/O)."""
        entry = self._entries.get(project_name)
        if entry is not None and entry.snapshot is not None and time.monotonic() - entry.checked_at < self._ttl:
            return entry.snapshot
        return None

    def snapshot(self, project_name: str) -> IndexSnapshot:
        """The current index of a project, loading or refreshing it from the database as needed."""
        hit = self.fresh(project_name)
        if hit is not None:
            return hit
        ref = self._load_ref(project_name)
        with self._lock:
            entry = self._entries.get(project_name)
            if entry is None or entry.ref.id != ref.id or entry.ref.rev != ref.rev:
                entry = self._load_entry(ref)
                self._entries[project_name] = entry
                ref = entry.ref
            else:
                entry.ref = ref
            entry.checked_at = time.monotonic()
            if entry.snapshot is None:
                entry.snapshot = self._assemble(entry)
            return entry.snapshot

    def apply(self, ref: ProjectRef, added: Iterable[tuple[str, str, str]] = (),
              removed: Iterable[tuple[str, str]] = ()) -> None:
        """Apply one committed change (revision ``ref.rev``) made by this process.

        Applied in place only when the cache holds exactly the previous revision; otherwise the entry
        is dropped and the next request reloads it, so out-of-order or foreign changes are never lost.
        """
        with self._lock:
            entry = self._entries.get(ref.name)
            if entry is None:
                return
            if entry.ref.id != ref.id or entry.ref.rev != ref.rev - 1:
                del self._entries[ref.name]
                return
            for name, version in removed:
                rows = entry.charts.get(name, [])
                key = semver_sort_key(version)
                i = bisect.bisect_left(rows, (key,))
                while i < len(rows) and rows[i][0] == key:
                    if rows[i][1] == version:
                        del rows[i]
                        break
                    i += 1
                if not rows:
                    entry.charts.pop(name, None)
            for name, version, fragment in added:
                bisect.insort(entry.charts.setdefault(name, []), (semver_sort_key(version), version, fragment))
            entry.ref = ref
            entry.snapshot = None
            entry.checked_at = time.monotonic()

    def forget(self, project_name: str) -> None:
        with self._lock:
            self._entries.pop(project_name, None)

    def _load_ref(self, project_name: str) -> ProjectRef:
        with self._db.read() as s:
            return _project_ref(s, project_name)

    def _load_entry(self, ref: ProjectRef) -> _Entry:
        """Load every fragment, retrying until the revision is the same before and after the read."""
        while True:
            entry = _Entry(ref=ref)
            with self._db.read() as s:
                rows = s.exec(select(ChartVersion.name, ChartVersion.version, ChartVersion.index_entry)
                              .where(ChartVersion.project_id == ref.id)).all()
                after = _project_ref(s, ref.name)
            if after.id == ref.id and after.rev == ref.rev:
                break
            ref = after
        for name, version, fragment in rows:
            entry.charts.setdefault(name, []).append((semver_sort_key(version), version, fragment))
        for versions in entry.charts.values():
            versions.sort()
        return entry

    @staticmethod
    def _assemble(entry: _Entry) -> IndexSnapshot:
        fragments = {name: [frag for _, _, frag in reversed(rows)] for name, rows in entry.charts.items()}
        return IndexSnapshot(entry.ref, render_index(fragments, entry.ref.changed_at))
