"""Wire types of the Helm repository surfaces."""

from __future__ import annotations

from typing import Any

import msgspec


class ChartDownload(msgspec.Struct, frozen=True):
    """Where a client gets a package: a redirect (object storage) or a key to stream from."""

    key: str
    size: int
    digest: str
    content_type: str
    redirect_url: str | None = None


class SavedChart(msgspec.Struct, frozen=True):
    name: str
    version: str
    digest: str
    overwritten: bool = False


def chart_version_json(metadata: dict[str, Any], digest: str, created: str, url: str) -> dict[str, Any]:
    """A ChartMuseum "chart version": the Chart.yaml fields plus urls, created and digest."""
    out = dict(metadata)
    out["urls"] = [url]
    out["created"] = created
    out["digest"] = digest.removeprefix("sha256:")
    return out
