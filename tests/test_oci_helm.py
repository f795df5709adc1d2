"""Real helm against a live server: charts pushed over OCI and over HTTP are one store, two views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml

from appmarket.settings import Settings, load_settings
from tests.support.app import LiveServer
from tests.support.charts import make_chart_tgz
from tests.support.helm import Helm
from tests.support.oci import basic

pytestmark = pytest.mark.slow


@pytest.fixture(params=["filesystem", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The live server on both drivers; on S3 blob and chart downloads are presigned redirects."""
    extra: dict[str, Any] = {}
    if request.param == "s3":
        extra["storage"] = msgspec.to_builtins(request.getfixturevalue("s3_settings"))
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         publish_catalog=False, **extra)


def test_helm_oci_and_http_views(live_server: LiveServer, tmp_path: Path) -> None:
    url, host, token = live_server.url, live_server.host_port, live_server.token
    auth = basic("admin", token)
    assert httpx.post(f"{url}/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    helm = Helm(tmp_path / "home")
    helm.run("registry", "login", host, "-u", "admin", "-p", token, "--plain-http")
    version = "0.2.0+build.1"
    pkg = helm.package("mychart", version, tmp_path / "pkgs")
    out = helm.run("push", str(pkg), f"oci://{host}/team-a", "--plain-http")
    assert "Pushed" in out.stdout + out.stderr
    # The OCI push is a chart version of the project: listed in index.yaml, installable over HTTP.
    index = yaml.safe_load(httpx.get(f"{url}/team-a/index.yaml", headers=auth).text)
    assert [v["version"] for v in index["entries"]["mychart"]] == [version]
    pulled = tmp_path / "oci-pull"
    pulled.mkdir()
    helm.run("pull", f"oci://{host}/team-a/mychart", "--version", version, "--plain-http", "-d", str(pulled))
    assert (pulled / f"mychart-{version}.tgz").read_bytes() == pkg.read_bytes()
    helm.run("repo", "add", "team-a", f"{url}/team-a", "--username", "admin", "--password", token)
    http_pull = tmp_path / "http-pull"
    http_pull.mkdir()
    helm.run("pull", "team-a/mychart", "--version", version, "-d", str(http_pull))
    assert (http_pull / f"mychart-{version}.tgz").read_bytes() == pkg.read_bytes()
    tags = httpx.get(f"{url}/v2/team-a/mychart/tags/list", headers=auth).json()["tags"]
    assert tags == ["0.2.0_build.1"]
    # A ChartMuseum upload is pullable over OCI (a synthesized manifest over the same chart blob).
    other = make_chart_tgz("other", "0.1.0")
    assert httpx.post(f"{url}/api/team-a/charts", content=other, headers=auth).status_code == 201
    oci_pull = tmp_path / "other-pull"
    oci_pull.mkdir()
    helm.run("pull", f"oci://{host}/team-a/other", "--version", "0.1.0", "--plain-http", "-d", str(oci_pull))
    assert (oci_pull / "other-0.1.0.tgz").read_bytes() == other
    # Deletes cross views: ChartMuseum delete removes the OCI manifest, OCI delete removes the version.
    assert httpx.delete(f"{url}/api/team-a/charts/other/0.1.0", headers=auth).status_code == 200
    assert httpx.get(f"{url}/v2/team-a/other/manifests/0.1.0", headers=auth).status_code == 404
    digest = httpx.head(f"{url}/v2/team-a/mychart/manifests/0.2.0_build.1", headers=auth) \
        .headers["docker-content-digest"]
    assert httpx.delete(f"{url}/v2/team-a/mychart/manifests/{digest}", headers=auth).status_code == 202
    index = yaml.safe_load(httpx.get(f"{url}/team-a/index.yaml", headers=auth).text)
    assert "mychart" not in (index.get("entries") or {})
    # A chart pushed to a repository not named after it is refused, nothing recorded.
    wrong = helm.package("third", "1.0.0", tmp_path / "pkgs")
    refused = helm.run("push", str(wrong), f"oci://{host}/team-a/sub", "--plain-http", check=False)
    assert refused.returncode != 0
    assert httpx.get(f"{url}/api/team-a/charts/third", headers=auth).status_code == 404
