"""Prometheus collectors for what is stored (request metrics come from Litestar's middleware).

The collector is registered once per process and reads the database of the most recently started
app at scrape time, so a scrape costs one aggregate query and start-up costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import select

from appmarket.db.engine import Database
from appmarket.db.models import Blob, ChartVersion, Project


class StoreCollector(Collector):
    def __init__(self) -> None:
        self.db: Database | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        db = self.db
        if db is None:
            return
        with db.read() as s:
            charts = s.exec(select(func.count()).select_from(ChartVersion)).one()
            projects = s.exec(select(func.count()).select_from(Project)).one()
            blobs, blob_bytes = s.exec(select(func.count(), func.coalesce(func.sum(Blob.size), 0))).one()
        yield GaugeMetricFamily("appmarket_chart_versions", "Chart versions stored", value=charts)
        yield GaugeMetricFamily("appmarket_projects", "Projects", value=projects)
        yield GaugeMetricFamily("appmarket_blobs", "Content-addressed blobs stored", value=blobs)
        yield GaugeMetricFamily("appmarket_blob_bytes", "Bytes stored in blobs", value=blob_bytes)


_COLLECTOR = StoreCollector()
_REGISTERED = False
_LOCK = threading.Lock()


def attach(db: Database | None) -> None:
    """Point the process-wide collector at ``db`` (None detaches it)."""
    global _REGISTERED  # noqa: PLW0603 - one registration per process is the point
    with _LOCK:
        if not _REGISTERED:
            REGISTRY.register(_COLLECTOR)
            _REGISTERED = True
        _COLLECTOR.db = db
