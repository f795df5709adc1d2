"""Pure parts of the installer: preflight checks, value merging, audit diffs, helm history parsing."""

from __future__ import annotations

import pytest

from appmarket.errors import Invalid
from appmarket.installer.executor import _history_version, release_fields, secrets_of
from appmarket.installer.helm import manifest_diff
from appmarket.installer.preflight import ChartFacts, PreflightFailed, coalesce, preflight, values_diff
from appmarket.installer.releases import check_names

CAPS = {"version": "v1.29.3", "architectures": ["amd64"], "gpus": {"nvidia.com/gpu": 1}}


def test_coalesce_and_values_diff() -> None:
    assert coalesce({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 5, "c": None}, "e": [1]}) == \
        {"a": {"b": 5}, "d": 1, "e": [1]}
    assert values_diff({"a": {"b": 1}, "x": 1}, {"a": {"b": 2}, "y": 3}) == \
        {"added": {"y": 3}, "changed": {"a.b": [1, 2]}, "removed": ["x"]}


def test_preflight_reports_every_problem() -> None:
    chart = ChartFacts("c", "1.0.0", default_values={"n": 1},
                       values_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
                       annotations={"appmarket.io/architectures": "arm64,riscv64", "appmarket.io/gpu": "required",
                                    "appmarket.io/gpu-resource": "amd.com/gpu"},
                       kube_version=">=1.30.0-0")
    with pytest.raises(PreflightFailed) as info:
        preflight(chart, {"n": "x"}, CAPS)
    assert [d["check"] for d in info.value.details] == ["values", "kubeVersion", "architecture", "gpu"]
    assert info.value.details[0]["field"] == "n"
    with pytest.raises(PreflightFailed) as info:
        preflight(chart, {"n": 2}, CAPS, override_fit=True)
    assert [d["check"] for d in info.value.details] == ["kubeVersion"]  # helm enforces it anyway
    ok = preflight(ChartFacts("c", "1", annotations={"appmarket.io/gpu": "optional",
                                                     "appmarket.io/architectures": "amd64"}),
                   {}, {"version": "v1.30.0", "architectures": ["amd64", "arm64"], "gpus": {}})
    assert len(ok.warnings) == 2 and not ok.problems


def test_names_history_and_diff() -> None:
    check_names("data", "kafka")
    for ns, name in (("Data", "kafka"), ("data", "k" * 54), ("data", "-x")):
        with pytest.raises(Invalid):
            check_names(ns, name)
    assert _history_version([{"chart": "my-chart-1.2.3-rc.1"}]) == "1.2.3-rc.1"
    assert release_fields([]) == {"status": "uninstalled", "description": "helm has no record of the release"}
    assert secrets_of({"users": [{"user": {"token": "t"}}]}) == ("t",)
    assert manifest_diff("a: 1\n", "a: 1", "x", "y") == ""
    assert "+b: 2" in manifest_diff("a: 1\n", "a: 1\nb: 2\n", "x", "y")
