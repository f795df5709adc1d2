"""Curated chart sources under ``catalog/``: discovery and a content digest that ignores file times.

``helm package`` output differs between runs (tar mtimes, gzip header), so "unchanged" is decided on the
sources instead: SHA-256 over every file helm would package (``.helmignore`` honoured), by relative path
and content, plus, for umbrella charts, the digests of their ``file://`` dependencies (a changed member
changes the umbrella's package too).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appmarket.errors import Invalid

_ALWAYS_IGNORED = (".git/", ".helmignore")


@dataclass
class ChartSource:
    name: str
    version: str
    path: Path
    file_deps: list[Path] = field(default_factory=list)
    """Resolved directories of ``file://`` dependencies."""

    @property
    def is_umbrella(self) -> bool:
        return bool(self.file_deps)


def _load_chart_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise Invalid(f"{path}: cannot read Chart.yaml: {exc}") from exc
    if not isinstance(doc, dict) or not doc.get("name") or not doc.get("version"):
        raise Invalid(f"{path}: Chart.yaml needs a name and a version")
    return doc


def read_source(chart_dir: Path) -> ChartSource:
    doc = _load_chart_yaml(chart_dir / "Chart.yaml")
    deps = []
    for dep in doc.get("dependencies") or []:
        repo = str(dep.get("repository", "")) if isinstance(dep, dict) else ""
        if repo.startswith("file://"):
            deps.append((chart_dir / repo.removeprefix("file://")).resolve())
    return ChartSource(name=str(doc["name"]), version=str(doc["version"]), path=chart_dir, file_deps=deps)


def discover(catalog_dir: Path) -> list[ChartSource]:
    """Every chart directory below ``catalog_dir`` (vendored ``charts/`` and hidden directories skipped)."""
    found = []
    for chart_yaml in sorted(catalog_dir.rglob("Chart.yaml")):
        rel = chart_yaml.relative_to(catalog_dir).parts[:-1]
        if any(p in ("charts", "templates") or p.startswith(".") for p in rel):
            continue
        found.append(read_source(chart_yaml.parent))
    return found


def _ignore_patterns(chart_dir: Path) -> list[str]:
    path = chart_dir / ".helmignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith(("#", "!"))]


def _ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            if is_dir and (fnmatch.fnmatchcase(base, pattern[:-1]) or fnmatch.fnmatchcase(rel, pattern[:-1])):
                return True
            continue
        target = rel if "/" in pattern.lstrip("/") else base
        if fnmatch.fnmatchcase(target, pattern.lstrip("/")):
            return True
    return False


def packaged_files(source: ChartSource) -> list[str]:
    """Relative paths helm would package from the source directory (build artefacts excluded)."""
    patterns = _ignore_patterns(source.path) + list(_ALWAYS_IGNORED)
    if source.is_umbrella:
        patterns += ["charts/", "Chart.lock"]
    out: list[str] = []

    def walk(d: Path, prefix: str) -> None:
        for child in sorted(d.iterdir()):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                if not _ignored(rel, True, patterns):
                    walk(child, rel + "/")
            elif child.is_file() and not _ignored(rel, False, patterns) and not (not prefix and rel.endswith(".tgz")):
                out.append(rel)

    walk(source.path, "")
    return out


def source_digest(source: ChartSource, by_path: dict[Path, ChartSource], _seen: frozenset[Path] = frozenset()) -> str:
    if source.path.resolve() in _seen:
        raise Invalid(f"chart {source.name}: circular file:// dependencies")
    h = hashlib.sha256()
    for rel in packaged_files(source):
        h.update(rel.encode() + b"\0" + hashlib.sha256((source.path / rel).read_bytes()).digest())
    for dep in source.file_deps:
        dep_source = by_path.get(dep) or read_source(dep)
        h.update(b"dep\0" + source_digest(dep_source, by_path, _seen | {source.path.resolve()}).encode())
    return "sha256:" + h.hexdigest()
