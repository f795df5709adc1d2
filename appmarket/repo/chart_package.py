"""Chart intake: one call from an uploaded ``.tgz`` stream to everything AppMarket records about it."""

from __future__ import annotations

from typing import Any, BinaryIO

import msgspec

from appmarket.errors import Invalid
from appmarket.repo.archive import read_chart_archive
from appmarket.repo.chart_meta import ChartMetadata, parse_chart_yaml, parse_values, parse_values_schema
from appmarket.settings import ChartLimits


class ChartPackage(msgspec.Struct, frozen=True, kw_only=True):
    """A validated chart package: its metadata, identity and the files the marketplace shows."""

    metadata: ChartMetadata
    digest: str
    """``sha256:<hex>`` of the package bytes as uploaded."""
    size: int
    chart_yaml: str
    values_yaml: str
    values: dict[str, Any]
    values_schema: dict[str, Any] | None = None
    readme: str | None = None
    filename: str
    """``<name>-<version>.tgz``."""
    templates: list[str] = []
    """Template paths relative to the chart, e.g. ``templates/deployment.yaml``."""
    subcharts: list[str] = []
    """Bundled sub-charts under ``charts/`` (directory or ``.tgz`` names)."""


def _text(data: bytes | None, what: str) -> str | None:
    if data is None:
        return None
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{what} is not valid UTF-8 (byte {exc.start})") from exc


def inspect_chart(stream: BinaryIO, limits: ChartLimits, *,
                  expected_digest: str | None = None) -> ChartPackage:
    """Read, check and parse a chart package; raises ``Invalid``/``TooLarge`` naming the problem.

    The archive rules are those of :func:`appmarket.repo.archive.read_chart_archive`, the metadata
    rules those of :mod:`appmarket.repo.chart_meta`. On top of them the chart directory in the archive
    must be named like the chart, as ``helm package`` writes it.
    """
    archive = read_chart_archive(stream, limits, expected_digest=expected_digest)
    assert archive.chart_yaml is not None  # read_chart_archive refuses archives without one
    metadata = parse_chart_yaml(archive.chart_yaml, requirements_yaml=archive.requirements_yaml)
    if archive.top != metadata.name:
        raise Invalid(f"chart archive directory {archive.top!r} does not match the chart name "
                      f"{metadata.name!r} in Chart.yaml")
    values_yaml = _text(archive.values_yaml, "values.yaml") or ""
    values = parse_values(archive.values_yaml or b"")
    schema = None
    if archive.values_schema_json is not None:
        schema = parse_values_schema(archive.values_schema_json, values)
    chart_yaml = _text(archive.chart_yaml, "Chart.yaml")
    assert chart_yaml is not None
    readme = None
    if archive.readme is not None:
        readme = archive.readme.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    return ChartPackage(
        metadata=metadata, digest=archive.digest, size=archive.size, chart_yaml=chart_yaml,
        values_yaml=values_yaml, values=values, values_schema=schema, readme=readme,
        filename=f"{metadata.name}-{metadata.version}.tgz", templates=archive.templates,
        subcharts=archive.subcharts,
    )
