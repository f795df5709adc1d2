"""Cluster registration against the Kubernetes API test server: probe, seal, label, never leak."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.fernet import Fernet
from litestar.testing import TestClient
from sqlmodel import Session, select

from appmarket.app import create_app
from appmarket.db.engine import make_unpooled_engine
from appmarket.db.installer import Cluster
from appmarket.errors import Invalid
from appmarket.installer.secretbox import SecretBox, load_or_create_key
from appmarket.settings import Settings
from tests.installer_helpers import fast, wait_for
from tests.kubeapi.server import KubeApiServer
from tests.kubeapi.switches import NodeSpec

Client = TestClient[Any]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_probe_and_credentials_stay_sealed(client: Client, admin_token: str, settings: Settings,
                                                   tmp_path: Path) -> None:
    nodes = [NodeSpec("x1", arch="amd64"), NodeSpec("a1", arch="arm64"), NodeSpec("g1", arch="amd64", gpus=4)]
    with KubeApiServer(token="cluster-secret-token", nodes=nodes, git_version="v1.35.1") as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc.yaml", token="cluster-secret-token").read_text()
        r = client.post("/api/v1/clusters", json={"name": "prod-bj", "kubeconfig": kubeconfig,
                                                  "labels": {"env": "prod", "region": "bj"}},
                        headers=_h(admin_token))
        assert r.status_code == 201, r.text
        body = r.json()
        caps = body["capabilities"]
        assert caps["reachable"] is True
        assert caps["version"] == "v1.35.1"
        assert caps["node_count"] == 3
        assert caps["architectures"] == ["amd64", "arm64"]
        assert caps["gpus"] == {"nvidia.com/gpu": 4}
        assert "cluster-secret-token" not in r.text

        listing = client.get("/api/v1/clusters", headers=_h(admin_token))
        assert [c["name"] for c in listing.json()] == ["prod-bj"]
        assert "cluster-secret-token" not in listing.text
        assert client.get("/api/v1/clusters").status_code == 401

        r = client.patch("/api/v1/clusters/prod-bj/labels", json={"labels": {"region": None, "tier": "gold"}},
                         headers=_h(admin_token))
        assert r.json()["labels"] == {"env": "prod", "tier": "gold"}
        assert client.patch("/api/v1/clusters/prod-bj/labels", json={"labels": {"bad key!": "x"}},
                            headers=_h(admin_token)).status_code == 400
        r = client.patch("/api/v1/clusters/prod-bj", json={"atomic_default": False, "labels": {"tier": None}},
                         headers=_h(admin_token))
        assert (r.json()["atomic_default"], r.json()["labels"]) == (False, {"env": "prod"}), r.text
        r = client.patch("/api/v1/clusters/prod-bj", json={"labels": {"x": "y"}}, headers=_h(admin_token))
        assert (r.json()["atomic_default"], r.json()["labels"]) == (False, {"env": "prod", "x": "y"})
        for bad in ({"server": "https://elsewhere"}, {"atomic_default": "no"}, {"labels": {"bad key!": "x"}}):
            assert client.patch("/api/v1/clusters/prod-bj", json=bad, headers=_h(admin_token)).status_code == 400
        assert client.patch("/api/v1/clusters/nope", json={}, headers=_h(admin_token)).status_code == 404
        assert client.get("/api/v1/clusters/prod-bj/releases", headers=_h(admin_token)).json() == []

        kube.go_down()
        r = client.post("/api/v1/clusters/prod-bj/probe", headers=_h(admin_token))
        assert r.status_code == 201
        assert r.json()["capabilities"]["reachable"] is False
        kube.come_up()
        r = client.post("/api/v1/clusters/prod-bj/probe", headers=_h(admin_token))
        assert r.json()["capabilities"]["reachable"] is True

        # Wrong credentials: the probe fails and nothing is stored.
        bad = kubeconfig.replace("cluster-secret-token", "wrong-token")
        r = client.post("/api/v1/clusters", json={"name": "bad", "kubeconfig": bad}, headers=_h(admin_token))
        assert r.status_code == 502
        assert "401" in r.json()["detail"]

    engine = make_unpooled_engine(settings.effective_database_url)
    with Session(engine) as s:
        rows = s.exec(select(Cluster)).all()
    engine.dispose()
    assert [c.name for c in rows] == ["prod-bj"]
    assert "cluster-secret-token" not in rows[0].kubeconfig_sealed
    key_file = Path(settings.data_dir) / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert client.delete("/api/v1/clusters/prod-bj", headers=_h(admin_token)).status_code == 204


def test_refusals(client: Client, admin_token: str) -> None:
    h = _h(admin_token)
    cases = [
        ({"name": "Bad_Name", "server": "https://x", "token": "t"}, "invalid cluster name"),
        ({"name": "ok"}, "kubeconfig, or a server URL"),
        ({"name": "ok", "kubeconfig": "::: not yaml"}, "kubeconfig"),
        ({"name": "ok", "kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n"}, "context"),
        ({"name": "ok", "kubeconfig": EXEC_KUBECONFIG}, "external credential plugins"),
    ]
    for payload, message in cases:
        r = client.post("/api/v1/clusters", json=payload, headers=h)
        assert r.status_code == 400, (payload, r.text)
        assert message in r.json()["detail"]
    assert client.post("/api/v1/clusters", json={"name": "x", "server": "https://x", "token": "t"}).status_code == 401


EXEC_KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
"""


def test_cluster_cli(live_server: Any, tmp_path: Path) -> None:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {**os.environ, "APPMARKET_URL": live_server.url, "APPMARKET_TOKEN": live_server.token}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appmarket", "cluster", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    with KubeApiServer(nodes=[NodeSpec("n1", arch="arm64")]) as kube:
        kc = kube.write_kubeconfig(tmp_path / "kc.yaml")
        added = cli("add", "edge-1", "--kubeconfig", str(kc), "--label", "env=prod", "--label", "region=sh")
        assert added.returncode == 0, added.stderr
        assert "reachable" in added.stdout
        assert "arm64" in added.stdout
        labelled = cli("label", "edge-1", "tier=edge", "region-")
        assert labelled.returncode == 0, labelled.stderr
        assert "env=prod,tier=edge" in labelled.stdout
        listed = cli("list")
        assert listed.stdout.startswith("edge-1\treachable\tv1.36.2\t1 nodes\tarm64")
        dup = cli("add", "edge-1", "--kubeconfig", str(kc))
        assert dup.returncode == 4  # Conflict
        assert "already exists" in dup.stderr
        assert cli("remove", "edge-1").returncode == 0
        assert cli("list").stdout == ""


def test_login_file_replaces_environment(live_server: Any, tmp_path: Path) -> None:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("APPMARKET_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appmarket", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False, input=stdin)

    refused = cli("login", "--url", live_server.url, "--token", "amk_wrong")
    assert refused.returncode == 5
    assert not (tmp_path / "config" / "appmarket" / "login.json").exists()
    ok = cli("login", "--url", live_server.url, stdin=live_server.token + "\n")  # token prompted, not in argv
    assert ok.returncode == 0, ok.stderr
    saved = tmp_path / "config" / "appmarket" / "login.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    listed = cli("cluster", "list")
    assert listed.returncode == 0, listed.stderr
    assert cli("logout").returncode == 0
    after = cli("cluster", "list")  # back to the default server URL and no token
    assert after.returncode != 0
    assert "http://127.0.0.1:8080" in after.stderr


def test_secret_key_from_settings_seals_and_a_wrong_key_is_a_clear_error(settings: Settings, admin_token: str,
                                                                          tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    (Path(settings.data_dir) / "secret.key").unlink()  # made by the bootstrap of the admin_token fixture
    with KubeApiServer(token="sealed-token") as kube, \
            TestClient(create_app(msgspec.structs.replace(settings, secret_key=key))) as c:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc.yaml").read_text()
        r = c.post("/api/v1/clusters", json={"name": "c1", "kubeconfig": kubeconfig}, headers=_h(admin_token))
        assert r.status_code == 201, r.text
        assert c.post("/api/v1/clusters/c1/probe", headers=_h(admin_token)).status_code == 201
        engine = make_unpooled_engine(settings.effective_database_url)
        with Session(engine) as s:
            sealed = s.exec(select(Cluster)).one().kubeconfig_sealed
        engine.dispose()
        assert "sealed-token" in Fernet(key.encode()).decrypt(sealed.encode()).decode()  # sealed with that key
        assert not (Path(settings.data_dir) / "secret.key").exists()  # no key file when the key is configured

        other = msgspec.structs.replace(settings, secret_key=Fernet.generate_key().decode())
        with TestClient(create_app(other)) as wrong:
            assert wrong.get("/api/v1/clusters/c1", headers=_h(admin_token)).status_code == 200  # no secret needed
            r = wrong.post("/api/v1/clusters/c1/probe", headers=_h(admin_token))
            assert r.status_code == 500 and r.json()["code"] == "credentials_unreadable", r.text
            assert "cannot be decrypted with the configured key" in r.json()["detail"]
    with pytest.raises(Invalid, match="Fernet key"):
        SecretBox(b"not-a-fernet-key")


def test_first_start_key_file_race(tmp_path: Path) -> None:
    """Processes starting together on a new data directory end up with one key, never a torn file."""
    for round_ in range(10):
        data = tmp_path / f"d{round_}"
        barrier = threading.Barrier(6)
        keys: list[bytes] = []

        def start(barrier: threading.Barrier, data: Path, keys: list[bytes]) -> None:
            barrier.wait()
            keys.append(load_or_create_key(data))

        threads = [threading.Thread(target=start, args=(barrier, data, keys)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(keys)) == 1 and keys[0] == (data / "secret.key").read_bytes()
        assert [p.name for p in data.iterdir()] == ["secret.key"]  # no temporary files left
        assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
        box = SecretBox(keys[0])
        assert SecretBox(load_or_create_key(data)).open(box.seal("x")) == "x"
    assert load_or_create_key(tmp_path / "unused", "configured-key") == b"configured-key"
    assert not (tmp_path / "unused").exists()


def test_health_check_thread_follows_the_cluster(settings: Settings, admin_token: str, tmp_path: Path) -> None:
    with KubeApiServer(token="t", nodes=[NodeSpec("n1", arch="amd64")]) as kube, \
            TestClient(create_app(fast(settings, health_interval=0.3))) as c:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kc.yaml").read_text()
        assert c.post("/api/v1/clusters", json={"name": "c1", "kubeconfig": kubeconfig},
                      headers=_h(admin_token)).status_code == 201

        def caps() -> dict[str, Any]:
            found: dict[str, Any] = c.get("/api/v1/clusters/c1", headers=_h(admin_token)).json()["capabilities"]
            return found

        kube.set_nodes([NodeSpec("n1", arch="amd64"), NodeSpec("g1", arch="arm64", gpus=2)])
        wait_for(lambda: caps()["architectures"] == ["amd64", "arm64"])  # no probe asked for
        assert caps()["gpus"] == {"nvidia.com/gpu": 2} and caps()["node_count"] == 2
        kube.go_down()
        wait_for(lambda: caps()["reachable"] is False)
        assert caps()["error"]
        kube.come_up()
        wait_for(lambda: caps()["reachable"] is True)
