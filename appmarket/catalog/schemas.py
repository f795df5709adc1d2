"""Wire types of the catalog API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


class GpuNeeds(msgspec.Struct):
    mode: str = "none"
    """none | optional | required."""
    resource: str = ""
    count: int = 0


class AppSummary(msgspec.Struct):
    project: str
    name: str
    display_name: str
    latest_version: str
    app_version: str
    versions: list[str]
    description: str
    icon: str
    category: str
    keywords: list[str]
    architectures: list[str]
    gpu: GpuNeeds
    suites: list[str]
    """Suites this app belongs to (an umbrella chart lists the suite it defines)."""
    suite: str
    """The suite this chart defines, when it is an umbrella chart."""
    deprecated: bool
    updated_at: dt.datetime
    score: int | None = None
    """Search relevance (see ``appmarket/catalog/search.py``), when a query was given."""


class AppPage(msgspec.Struct):
    items: list[AppSummary]
    total: int
    page: int
    per_page: int


class Category(msgspec.Struct):
    name: str
    count: int


class SuiteMember(msgspec.Struct):
    name: str
    app: AppSummary | None
    """None when the member chart is not in the umbrella's project (or not readable)."""


class Suite(msgspec.Struct):
    name: str
    project: str
    app: AppSummary
    members: list[SuiteMember]


class FeaturedParameter(msgspec.Struct):
    path: str
    default: Any = None
    type: str | None = None
    title: str | None = None
    description: str | None = None
    enum: list[Any] | None = None


class InstallCommands(msgspec.Struct):
    helm_repo: list[str]
    oci: list[str]


class AppDetail(msgspec.Struct):
    app: AppSummary
    version: str
    app_version: str
    created_at: dt.datetime
    kube_version: str
    home: str
    sources: list[str]
    maintainers: list[dict[str, str]]
    dependencies: list[dict[str, Any]]
    readme_html: str
    values_yaml: str
    values_schema: dict[str, Any] | None
    featured_parameters: list[FeaturedParameter]
    images: list[str]
    digest: str
    install: InstallCommands


class PublishedChart(msgspec.Struct):
    name: str
    version: str
    status: str
    """published | unchanged | refused | failed."""
    message: str = ""
    images: list[str] = []


class PublishReport(msgspec.Struct):
    project: str
    charts: list[PublishedChart]
    seconds: float

    @property
    def refused(self) -> list[PublishedChart]:
        return [c for c in self.charts if c.status in ("refused", "failed")]
