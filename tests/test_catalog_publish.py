"""Publishing curated charts into ``library``: fresh start, idempotency, refusals, images, the real catalog."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.catalog.publish import Publisher, default_catalog_dir
from appmarket.cli.main import main
from appmarket.services import Services, bootstrap, build_services
from appmarket.settings import Settings, load_settings
from tests.support.app import REPO

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      initContainers:
        - name: init
          image: "busybox:{{ .Values.initTag }}"
      containers:
        - name: main
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""


def write_chart(root: Path, name: str, version: str = "1.0.0", *, image: str = "nginx",
                annotations: dict[str, str] | None = None, deps: list[str] | None = None) -> Path:
    d = root / "grp" / name
    (d / "templates").mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version, "appVersion": "1.0",
                           "description": f"The {name} chart", "keywords": [name, "demo"],
                           "annotations": {"appmarket.io/category": "Demo", **(annotations or {})}}
    if deps:
        doc["dependencies"] = [{"name": n, "version": "1.0.0", "repository": f"file://../{n}"} for n in deps]
    (d / "Chart.yaml").write_text(json.dumps(doc))
    (d / "values.yaml").write_text(f"image:\n  repository: {image}\n  tag: '1.0'\ninitTag: '1.36'\n")
    (d / "README.md").write_text(f"# {name}\n")
    (d / ".helmignore").write_text("*.swp\nci/\n")
    if not deps:
        (d / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    return d


@pytest.fixture
def mini_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    write_chart(root, "alpha", image="example/alpha", annotations={"appmarket.io/suites": "demo"})
    write_chart(root, "beta", image="example/beta", annotations={"appmarket.io/suites": "demo"})
    write_chart(root, "demo-suite", deps=["beta", "alpha"], annotations={
        "appmarket.io/suite": "demo", "appmarket.io/suite-members": '["beta", "alpha"]'})
    return root


@pytest.fixture
def pub_settings(tmp_path: Path, database_url: str, mini_catalog: Path) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         publish_catalog=True, catalog_dir=str(mini_catalog))


@pytest.fixture
def services(pub_settings: Settings) -> Iterator[Services]:
    bootstrap(pub_settings)
    svc = build_services(pub_settings)
    yield svc
    svc.close()


def statuses(report: Any) -> dict[str, str]:
    return {c.name: c.status for c in report.charts}


def test_fresh_start_publishes_library(pub_settings: Settings, mini_catalog: Path) -> None:
    with TestClient(create_app(pub_settings)) as client:
        page = client.get("/api/v1/catalog/apps", params={"project": "library"}).json()
        assert [a["name"] for a in page["items"]] == ["alpha", "beta", "demo-suite"]
        assert client.get("/api/v1/projects/library").json()["visibility"] == "public"
        alpha = client.get("/api/v1/catalog/apps/library/alpha").json()
        assert alpha["images"] == ["busybox:1.36", "example/alpha:1.0"]
        suite = client.get("/api/v1/catalog/apps/library/demo-suite").json()
        assert suite["images"] == ["busybox:1.36", "example/alpha:1.0", "example/beta:1.0"]
        assert [d["name"] for d in suite["dependencies"]] == ["beta", "alpha"]
        suites = client.get("/api/v1/catalog/suites").json()
        assert [m["name"] for m in suites[0]["members"]] == ["beta", "alpha"]
        assert client.get("/library/index.yaml").status_code == 200
    # Packaging happened in a temporary copy: no vendored charts or lock file in the source tree.
    assert not list(mini_catalog.rglob("charts")) and not list(mini_catalog.rglob("Chart.lock"))
    assert not list(mini_catalog.rglob("*.tgz"))


def test_second_publish_changes_nothing(services: Services, mini_catalog: Path) -> None:
    publisher = Publisher(services.db, services.projects, services.charts)
    first = publisher.publish(mini_catalog)
    assert set(statuses(first).values()) == {"published"}
    # Touching files (new mtimes, as a fresh checkout has) and adding ignored files is not a change.
    for path in mini_catalog.rglob("*"):
        os.utime(path, (1_800_000_000, 1_800_000_000))
    (mini_catalog / "grp" / "alpha" / "notes.swp").write_text("editor junk")
    rev_before = services.projects.lookup("library").index_rev
    second = publisher.publish(mini_catalog)
    assert set(statuses(second).values()) == {"unchanged"}
    assert second.seconds < 1.0
    assert services.projects.lookup("library").index_rev == rev_before  # nothing was uploaded


def test_changed_without_bump_is_refused(services: Services, mini_catalog: Path, pub_settings: Settings) -> None:
    publisher = Publisher(services.db, services.projects, services.charts)
    publisher.publish(mini_catalog)
    values = mini_catalog / "grp" / "beta" / "values.yaml"
    values.write_text(values.read_text().replace("'1.0'", "'2.0'"))
    report = publisher.publish(mini_catalog)
    st = statuses(report)
    # The member changed, so did the umbrella that vendors it; both are refused by name.
    assert st == {"alpha": "unchanged", "beta": "refused", "demo-suite": "refused"}
    refused = {c.name: c.message for c in report.refused}
    assert "chart beta changed since version 1.0.0 was published" in refused["beta"]
    assert "grp/beta/Chart.yaml" in refused["beta"]
    # The CLI says the same and exits with the conflict code.
    env = {"APPMARKET_DATA_DIR": pub_settings.data_dir, "APPMARKET_DATABASE_URL": pub_settings.database_url}
    result = CliRunner().invoke(main, ["catalog", "publish", "--dir", str(mini_catalog)], env=env)
    assert result.exit_code == 4, result.output
    assert "refused    beta 1.0.0: chart beta changed" in result.output
    # Bumping the versions publishes them.
    write_chart(mini_catalog, "beta", "1.0.1", image="example/beta")
    (mini_catalog / "grp" / "beta" / "values.yaml").write_text(values.read_text())
    suite = mini_catalog / "grp" / "demo-suite" / "Chart.yaml"
    doc = json.loads(suite.read_text())
    doc["version"] = "1.1.0"
    doc["dependencies"][0]["version"] = "1.0.1"
    suite.write_text(json.dumps(doc))
    st = statuses(publisher.publish(mini_catalog))
    assert st == {"alpha": "unchanged", "beta": "published", "demo-suite": "published"}


def test_chart_failing_validation_is_reported(services: Services, mini_catalog: Path) -> None:
    bad = write_chart(mini_catalog, "broken")
    (bad / "values.schema.json").write_text('{"type": "object", "required": ["missing"]}')
    report = Publisher(services.db, services.projects, services.charts).publish(mini_catalog)
    st = statuses(report)
    assert st["broken"] == "failed" and st["alpha"] == "published"
    assert next(c.message for c in report.charts if c.name == "broken")


@pytest.mark.skipif(not (REPO / "catalog").is_dir(), reason="no curated catalog in this checkout")
def test_real_catalog_publishes(tmp_path: Path, database_url: str) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                             publish_catalog=True)
    with TestClient(create_app(settings)) as client:
        page = client.get("/api/v1/catalog/apps", params={"project": "library", "per_page": 100}).json()
        published = {a["name"] for a in page["items"]}
        expected = {p.parent.name for p in (REPO / "catalog").glob("*/*/Chart.yaml")}
        assert published == expected
        suites = {s["name"]: s for s in client.get("/api/v1/catalog/suites").json()}
        for suite in suites.values():
            assert all(m["app"] is not None for m in suite["members"]), suite["name"]
        for name in published:
            detail = client.get(f"/api/v1/catalog/apps/library/{name}").json()
            assert detail["readme_html"], name
            assert detail["images"], name
    assert not list((REPO / "catalog").glob("*/*/Chart.lock"))
    # A restart with nothing changed republishes nothing and is quick.
    bootstrap(settings)
    svc = build_services(settings)
    try:
        report = Publisher(svc.db, svc.projects, svc.charts).publish(default_catalog_dir())
    finally:
        svc.close()
    assert {c.status for c in report.charts} == {"unchanged"}
    assert report.seconds < 1.0


def test_refusal_at_start_up_is_logged_not_fatal(pub_settings: Settings, mini_catalog: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(create_app(pub_settings)):
        pass
    values = mini_catalog / "grp" / "alpha" / "values.yaml"
    values.write_text(values.read_text() + "extra: true\n")
    with TestClient(create_app(pub_settings)) as client:
        assert client.get("/health").status_code == 200
        alpha = client.get("/api/v1/catalog/apps/library/alpha").json()
        assert alpha["version"] == "1.0.0" and "extra" not in alpha["values_yaml"]
    assert any("chart alpha changed since version 1.0.0 was published" in r.getMessage() for r in caplog.records)


def test_two_publishers_at_once_agree(services: Services, mini_catalog: Path, pub_settings: Settings) -> None:
    """Two replicas starting together: each chart is published once, nobody is refused."""
    other = build_services(pub_settings)
    try:
        publishers = [Publisher(svc.db, svc.projects, svc.charts) for svc in (services, other)]
        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(lambda p: p.publish(mini_catalog), publishers))
    finally:
        other.close()
    for name in ("alpha", "beta", "demo-suite"):
        assert sorted(statuses(r)[name] for r in reports) == ["published", "unchanged"], name
    assert set(statuses(publishers[0].publish(mini_catalog)).values()) == {"unchanged"}
