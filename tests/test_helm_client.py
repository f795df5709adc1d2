"""The real helm binary against a live server: repo add/update, search, pull, show, template."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support.app import LiveServer
from tests.support.helm import Helm


def test_helm_repository_end_to_end(live_server: LiveServer, tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {live_server.token}"}
    r = httpx.post(f"{live_server.url}/api/v1/projects", json={"name": "team-a"}, headers=h)
    assert r.status_code == 201, r.text
    helm = Helm(tmp_path / "helm")
    pkg1 = helm.package("mychart", "0.1.0", tmp_path / "pkgs")
    pkg2 = helm.package("mychart", "0.2.0-rc.1", tmp_path / "pkgs")

    # CI-style pushes: the appmarket CLI, and a ChartMuseum-style curl upload.
    env = {**os.environ, "APPMARKET_URL": live_server.url, "APPMARKET_TOKEN": live_server.token}
    push = subprocess.run([sys.executable, "-m", "appmarket", "push", str(pkg1), "--project", "team-a"],
                          env=env, capture_output=True, text=True, check=False)
    assert push.returncode == 0, push.stderr
    again = subprocess.run([sys.executable, "-m", "appmarket", "push", str(pkg1), "--project", "team-a"],
                           env=env, capture_output=True, text=True, check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    r = httpx.post(f"{live_server.url}/api/team-a/charts", content=pkg2.read_bytes(),
                   auth=("admin", live_server.token))
    assert r.status_code == 201, r.text

    repo_url = f"{live_server.url}/team-a"
    denied = helm.run("repo", "add", "anon", repo_url, check=False)
    assert denied.returncode != 0
    helm.run("repo", "add", "team-a", repo_url, "--username", "admin", "--password", live_server.token)
    helm.run("repo", "update")
    found = helm.run("search", "repo", "team-a/", "--versions", "--devel").stdout
    assert "team-a/mychart" in found
    assert "0.1.0" in found
    assert "0.2.0-rc.1" in found

    out = tmp_path / "pulled"
    out.mkdir()
    helm.run("pull", "team-a/mychart", "--version", "0.1.0", "-d", str(out))
    pulled = out / "mychart-0.1.0.tgz"
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == hashlib.sha256(pkg1.read_bytes()).hexdigest()

    values = yaml.safe_load(helm.run("show", "values", "team-a/mychart", "--version", "0.1.0").stdout)
    assert values["replicaCount"] == 1
    rendered = helm.run("template", "demo", "team-a/mychart", "--version", "0.1.0",
                        "--set", "replicaCount=3").stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
