"""Pure pieces of the catalog: annotation parsing, latest version, image listing, source digests."""

from __future__ import annotations

from pathlib import Path

from appmarket.catalog.images import images_in_manifests
from appmarket.catalog.projection import latest_version, parse_facts
from appmarket.catalog.sources import discover, packaged_files, source_digest


def test_parse_facts_is_lenient() -> None:
    facts = parse_facts({
        "appmarket.io/display-name": " Apache Kafka ", "appmarket.io/category": "Big Data",
        "appmarket.io/architectures": "AMD64, arm64,", "appmarket.io/gpu": "REQUIRED",
        "appmarket.io/gpu-resource": "nvidia.com/gpu", "appmarket.io/gpu-count": "2",
        "appmarket.io/featured-parameters": '["a.b", 3, "c"]', "appmarket.io/suites": "bigdata, ai",
        "other.io/x": "y"})
    assert facts.display_name == "Apache Kafka" and facts.category == "Big Data"
    assert facts.architectures == ["amd64", "arm64"]
    assert (facts.gpu, facts.gpu_resource, facts.gpu_count) == ("required", "nvidia.com/gpu", 2)
    assert facts.featured_parameters == ["a.b", "c"]
    assert facts.suites == ["bigdata", "ai"]
    bad = parse_facts({"appmarket.io/gpu": "lots", "appmarket.io/gpu-count": "x",
                       "appmarket.io/featured-parameters": "{not json", "appmarket.io/suite-members": '{"a": 1}'})
    assert (bad.gpu, bad.gpu_count, bad.featured_parameters, bad.suite_members) == ("none", 0, [], [])
    umbrella = parse_facts({"appmarket.io/suite": "ai", "appmarket.io/suite-members": '["x", "y"]'})
    assert umbrella.suites == ["ai"] and umbrella.suite_members == ["x", "y"]


def test_latest_version_prefers_releases() -> None:
    assert latest_version(["1.0.0", "1.10.0", "1.9.0"]) == "1.10.0"
    assert latest_version(["1.0.0", "2.0.0-rc.1"]) == "1.0.0"
    assert latest_version(["2.0.0-rc.1", "2.0.0-beta.2"]) == "2.0.0-rc.1"
    assert latest_version(["2.0.0-rc.2", "2.0.0-rc.10"]) == "2.0.0-rc.10"


def test_images_from_every_pod_template() -> None:
    rendered = """
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers: [{name: i, image: busybox:1.36}]
      containers: [{name: a, image: "repo/a:1"}, {name: b, image: repo/b@sha256:abc}]
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: repo/c:2}]
---
# an empty document
---
apiVersion: apps.tkestack.io/v1
kind: TApp
spec:
  templatePool:
    t1:
      spec:
        containers: [{name: d, image: repo/a:1}]
---
apiVersion: v1
kind: ConfigMap
data:
  image: not-a-container
"""
    assert images_in_manifests(rendered) == ["busybox:1.36", "repo/a:1", "repo/b@sha256:abc", "repo/c:2"]


def test_source_digest_follows_content_and_dependencies(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    for name, extra in (("leaf", ""), ("top", "dependencies:\n- {name: leaf, version: 1.0.0, repository: file://../leaf}\n")):
        d = root / "g" / name
        (d / "templates").mkdir(parents=True)
        (d / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n{extra}")
        (d / "values.yaml").write_text("a: 1\n")
        (d / ".helmignore").write_text("# comment\n*.bak\nci/\n/local.txt\n")
    top = root / "g" / "top"
    (top / "charts").mkdir()
    (top / "charts" / "leaf-1.0.0.tgz").write_bytes(b"vendored")
    (top / "Chart.lock").write_text("lock")
    (top / "ci").mkdir()
    (top / "ci" / "values.yaml").write_text("x: 1")
    (top / "x.bak").write_text("bak")
    (top / "local.txt").write_text("local")
    sources = {s.name: s for s in discover(root)}
    assert set(sources) == {"leaf", "top"}
    assert sources["top"].is_umbrella and not sources["leaf"].is_umbrella
    assert packaged_files(sources["top"]) == ["Chart.yaml", "values.yaml"]
    by_path = {s.path.resolve(): s for s in sources.values()}
    before = {n: source_digest(s, by_path) for n, s in sources.items()}
    (root / "g" / "leaf" / "values.yaml").write_text("a: 2\n")
    after = {n: source_digest(s, by_path) for n, s in sources.items()}
    assert before["leaf"] != after["leaf"] and before["top"] != after["top"]
    (root / "g" / "leaf" / "values.yaml").write_text("a: 1\n")
    assert {n: source_digest(s, by_path) for n, s in sources.items()} == before
