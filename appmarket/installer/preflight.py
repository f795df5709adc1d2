"""Preflight: everything that can refuse an operation before anything touches the cluster.

Pure functions over what the database already holds: the chart's values schema, default values,
annotations and ``kubeVersion``, and the cluster's last probed capabilities. Fit checks
(architectures, GPUs) can be overridden explicitly; a schema violation or a kubeVersion mismatch
cannot, since helm would refuse them anyway, only later and less clearly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

# jsonschema ships no type information and types-jsonschema is not a project dependency.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]

from appmarket.errors import Invalid
from appmarket.repo.version_constraints import kube_version_satisfies

ARCH_ANNOTATION = "appmarket.io/architectures"
GPU_ANNOTATION = "appmarket.io/gpu"
GPU_RESOURCE_ANNOTATION = "appmarket.io/gpu-resource"
GPU_COUNT_ANNOTATION = "appmarket.io/gpu-count"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


class Problem(msgspec.Struct, frozen=True):
    """One reason to refuse: ``check`` is values, kubeVersion, architecture or gpu; ``field`` a values path."""

    check: str
    message: str
    field: str = ""


class ChartFacts(msgspec.Struct, frozen=True):
    name: str
    version: str
    default_values: dict[str, Any] = {}
    values_schema: dict[str, Any] | None = None
    annotations: dict[str, str] = {}
    kube_version: str = ""


class PreflightReport(msgspec.Struct):
    problems: list[Problem] = []
    overridden: list[Problem] = []
    warnings: list[str] = []


class PreflightFailed(Invalid):
    """Refused by preflight; ``details`` lists every problem (rendered as ``errors`` in problem+json)."""

    def __init__(self, report: PreflightReport) -> None:
        text = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in report.problems)
        super().__init__(f"preflight refused the operation: {text}", code="preflight_failed")
        self.details = [msgspec.to_builtins(p) for p in report.problems]


def coalesce(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's value merge: maps merge recursively, anything else replaces, null deletes the key."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = value
    return out


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, dict) and values:
        out: dict[str, Any] = {}
        for key, value in values.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: values} if prefix else {}


def values_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed in the user-supplied values, by dotted path (for the audit record)."""
    a, b = flatten(old), flatten(new)
    return {"added": {k: b[k] for k in sorted(b.keys() - a.keys())},
            "changed": {k: [a[k], b[k]] for k in sorted(a.keys() & b.keys()) if a[k] != b[k]},
            "removed": sorted(a.keys() - b.keys())}


def values_problems(schema: dict[str, Any] | None, values: Mapping[str, Any]) -> list[Problem]:
    if not schema:
        return []
    declared = schema.get("$schema")
    cls = validator_for(schema, default=Draft202012Validator) if isinstance(declared, str) else Draft202012Validator
    errors = sorted(cls(schema).iter_errors(values), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem("values", e.message, ".".join(map(str, e.absolute_path)) or "(root)") for e in errors[:50]]


def fit_problems(chart: ChartFacts, caps: Mapping[str, Any]) -> tuple[list[Problem], list[str]]:
    """kubeVersion, architecture and GPU fit against the cluster's probed capabilities."""
    problems: list[Problem] = []
    warnings: list[str] = []
    version = str(caps.get("version") or "")
    if chart.kube_version:
        if not version:
            warnings.append("cluster version unknown (never probed); kubeVersion not checked")
        elif not kube_version_satisfies(chart.kube_version, version):
            problems.append(Problem("kubeVersion", f"chart {chart.name} {chart.version} needs Kubernetes "
                                                   f"{chart.kube_version}; the cluster runs {version}"))
    wanted = [a.strip() for a in chart.annotations.get(ARCH_ANNOTATION, "").split(",") if a.strip()]
    have = list(caps.get("architectures") or [])
    if wanted and have:
        if not set(wanted) & set(have):
            problems.append(Problem("architecture", f"chart images support {', '.join(wanted)}; the cluster's "
                                                    f"nodes are {', '.join(have)}"))
        elif set(have) - set(wanted):
            warnings.append(f"some nodes are {', '.join(sorted(set(have) - set(wanted)))}, which the chart's "
                            "images do not support; pin workloads with a nodeSelector")
    gpu = chart.annotations.get(GPU_ANNOTATION, "none").strip().lower()
    resource = chart.annotations.get(GPU_RESOURCE_ANNOTATION, "").strip() or DEFAULT_GPU_RESOURCE
    try:
        count = int(chart.annotations.get(GPU_COUNT_ANNOTATION, "1") or "1")
    except ValueError:
        count = 1
    available = int((caps.get("gpus") or {}).get(resource, 0))
    if gpu == "required" and available < count:
        problems.append(Problem("gpu", f"chart needs {count} {resource}; the cluster has {available} allocatable"))
    elif gpu == "optional" and available == 0:
        warnings.append(f"no {resource} in the cluster; the chart runs without GPU acceleration")
    return problems, warnings


def preflight(chart: ChartFacts, values: Mapping[str, Any], caps: Mapping[str, Any], *,
              override_fit: bool = False) -> PreflightReport:
    """Check values (merged over the chart defaults) and cluster fit; raise PreflightFailed on problems."""
    report = PreflightReport()
    report.problems.extend(values_problems(chart.values_schema, coalesce(chart.default_values, values)))
    fit, report.warnings = fit_problems(chart, caps)
    if override_fit:
        # helm itself refuses a kubeVersion mismatch, so only architecture and GPU fit can be overridden.
        report.overridden = [p for p in fit if p.check != "kubeVersion"]
        report.problems.extend(p for p in fit if p.check == "kubeVersion")
        report.warnings += [f"overridden: {p.message}" for p in report.overridden]
    else:
        report.problems.extend(fit)
    if report.problems:
        raise PreflightFailed(report)
    return report
