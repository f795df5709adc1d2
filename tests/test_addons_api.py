"""Addons and rollouts through the HTTP API and the CLI, end to end: a live server driving three Kubernetes
API test servers as clusters through the real rollout controller, installer workers and helm."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from appmarket.cli.main import main
from appmarket.services import bootstrap
from appmarket.settings import Settings
from tests.installer_helpers import demo_tgz, fast, wait_op
from tests.kubeapi.server import KubeApiServer
from tests.support.app import LiveServer, start_server, stop_server

# A fast controller and installer: the rollout engine polls every 0.3 s, workers every 0.2 s.
FAST_ENV = {"APPMARKET_ADDONS__INTERVAL": "0.3", "APPMARKET_INSTALLER__POLL_INTERVAL": "0.2",
            "APPMARKET_INSTALLER__HEARTBEAT_INTERVAL": "0.3", "APPMARKET_INSTALLER__STALE_AFTER": "2"}
NS = "agents"

ADDON_YAML = """\
name: agent
chart: library/demo
version: "0.1.0"
namespace: agents
values: {message: v1, replicas: 1}
overrides:
  - selector: ring=canary
    values: {message: v1-canary}
targets: env=prod
strategy:
  waves:
    - name: canary
      selector: ring=canary
  max_parallel: 2
  health_timeout: 40
  soak: 0
  approval: true
"""


def wait_for(fetch: Callable[[], Any], ok: Callable[[Any], bool], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {json.dumps(value, default=str)[:3000]}")
        time.sleep(0.2)
        value = fetch()
    return value


@pytest.fixture
def addon_server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    conf = fast(settings)
    token = bootstrap(conf)
    assert token
    server = start_server(conf, token, tmp_path / "server.log", extra_env=FAST_ENV)
    yield server
    stop_server(server)


class Http:
    """The management API with one account's credentials."""

    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.url, self.h = url, auth

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", headers={**self.h, **kw.pop("headers", {})},
                             timeout=60, **kw)

    def json(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json()


def _prepare(server: LiveServer, clusters: dict[str, KubeApiServer], labels: dict[str, dict[str, str]],
             tmp_path: Path) -> Http:
    api = Http(server.url, {"Authorization": f"Bearer {server.token}"})
    api.json("POST", "/api/v1/projects", 201, json={"name": "library"})
    for version in ("0.1.0", "0.2.0"):
        r = api("POST", "/api/library/charts", content=demo_tgz(version, crd=False))
        assert r.status_code == 201, r.text
    for name, kube in clusters.items():
        kc = kube.write_kubeconfig(tmp_path / f"{name}.yaml").read_text()
        api.json("POST", "/api/v1/clusters", 201, json={"name": name, "kubeconfig": kc, "labels": labels[name]})
    return api


def _message(kube: KubeApiServer) -> str | None:
    cm = kube.get_object("v1", "ConfigMap", "agent-config", NS)
    return None if cm is None else str(cm["data"]["message"])


def _follow_sse(url: str, headers: dict[str, str], into: list[dict[str, Any]]) -> None:
    """Collect the stream's events (``_id`` set for real events) until the server ends it."""
    event_id = None
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=120)) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("id:"):
                event_id = int(line[3:])
            elif line.startswith("data:"):
                into.append({**json.loads(line[5:]), "_id": event_id})
                event_id = None


def test_addon_rollout_through_api_and_cli(addon_server: LiveServer, tmp_path: Path) -> None:
    server = addon_server
    with ExitStack() as stack:
        kubes = {n: stack.enter_context(KubeApiServer(token=f"{n}-token")) for n in ("c1", "c2", "c3")}
        labels = {"c1": {"env": "prod", "ring": "canary"}, "c2": {"env": "prod"}, "c3": {"env": "prod"}}
        api = _prepare(server, kubes, labels, tmp_path)
        env = {"APPMARKET_URL": server.url, "APPMARKET_TOKEN": server.token}
        runner = CliRunner()

        def cli(*args: str, code: int = 0, token: str | None = None) -> str:
            result = runner.invoke(main, list(args), env={**env, "APPMARKET_TOKEN": token or server.token})
            assert result.exit_code == code, (args, result.output, result.exception)
            return result.output

        def latest() -> dict[str, Any]:
            return dict(api.json("GET", "/api/v1/addons/agent/rollout"))

        # A broken file is refused before anything is stored, with the reason.
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: agent\nchart: [library/demo\n")
        assert "not valid YAML" in cli("addon", "apply", str(bad), code=2)
        bad.write_text(ADDON_YAML.replace("soak: 0", "soak: 0\n  wavez: 2"))
        assert "unknown field `wavez`" in cli("addon", "apply", str(bad), code=2)
        assert api.json("GET", "/api/v1/addons") == []

        # Apply: explicit canary wave (c1), then the rest (c2, c3); each wave waits for approval.
        addon_file = tmp_path / "agent.yaml"
        addon_file.write_text(ADDON_YAML)
        out = cli("addon", "apply", str(addon_file))
        assert out.startswith("agent\tlibrary/demo\t0.1.0\t3 targets")
        first = wait_for(latest, lambda r: r["state"] == "waiting-approval", "approval of wave 1")
        assert [sorted(t["cluster"] for t in w["targets"]) for w in first["waves"]] == [["c1"], ["c2", "c3"]]
        out = cli("rollout", "status", "agent")
        assert "state waiting-approval" in out and "wave 1 (canary)" in out and "c1" in out
        assert _message(kubes["c1"]) is None  # nothing starts before the approval

        cli("rollout", "approve", "agent")
        wait_for(latest, lambda r: r["state"] == "waiting-approval" and r["current_wave"] == 1, "approval of wave 2")
        assert _message(kubes["c1"]) == "v1-canary"  # the override for ring=canary
        assert _message(kubes["c2"]) is None
        canary = latest()["waves"][0]
        assert canary["state"] == "succeeded"
        assert canary["targets"][0]["state"] == "healthy" and canary["targets"][0]["revision"] == 1
        assert canary["targets"][0]["operation_id"] is not None

        # Paused and resumed while waiting for approval: it waits again (nothing starts unapproved).
        assert "paused" in cli("rollout", "pause", "agent")
        cli("rollout", "resume", "agent")
        wait_for(latest, lambda r: r["state"] == "waiting-approval", "waiting for approval again")
        assert latest()["waves"][1]["targets"][0]["state"] == "pending"

        # Skip c3, then approve the last wave and follow it: the SSE stream delivers events and ends.
        cli("rollout", "skip", "agent", "c3")
        skipped = {t["cluster"]: t["state"] for w in latest()["waves"] for t in w["targets"]}
        assert skipped["c3"] == "skipped"
        rollout_id = first["id"]
        events: list[dict[str, Any]] = []
        reader = threading.Thread(target=_follow_sse, args=(f"{server.url}/api/v1/rollouts/{rollout_id}/events",
                                                            api.h, events))
        reader.start()
        cli("rollout", "approve", "agent")
        out = cli("rollout", "status", "agent", "--watch")
        assert "state succeeded" in out
        reader.join(60)
        assert not reader.is_alive(), "the event stream did not end with the rollout"
        ids = [e["_id"] for e in events if e["_id"] is not None]
        assert ids and ids == sorted(ids) and len(ids) == len(set(ids))
        assert any(e.get("action") == "approve" for e in events)
        assert events[-1] == {"state": "succeeded", "_id": None}  # the last word is the final state
        # Resuming after the last event replays nothing and ends at once (the rollout is final).
        again: list[dict[str, Any]] = []
        _follow_sse(f"{server.url}/api/v1/rollouts/{rollout_id}/events",
                    {**api.h, "Last-Event-ID": str(ids[-1])}, again)
        assert [e for e in again if e["_id"] is not None] == []
        assert (_message(kubes["c1"]), _message(kubes["c2"]), _message(kubes["c3"])) == ("v1-canary", "v1", None)
        assert cli("addon", "list").startswith("agent\tlibrary/demo\t0.1.0\t3 targets\trollout succeeded")
        shown = cli("addon", "show", "agent")
        assert "# targets: c1, c2, c3" in shown and "chart: library/demo" in shown

        # Drift: the release removed by hand on c2 is reported by a check run now.
        r = api("DELETE", f"/api/v1/clusters/c2/namespaces/{NS}/releases/agent")
        assert r.status_code == 202, r.text
        assert wait_op(lambda p: api("GET", p), r.json()["id"])["state"] == "succeeded"
        report = api.json("POST", "/api/v1/addons/agent/drift")
        assert report["status"] == "checked" and report["rollout"] is None
        drift = report["drift"]
        assert {"cluster": "c2", "kind": "missing"} in [{"cluster": d["cluster"], "kind": d["kind"]} for d in drift]
        assert "c2\tmissing" in cli("addon", "drift", "agent", code=1)
        assert any(d["cluster"] == "c2" for d in api.json("GET", "/api/v1/addons/agent/drift")["drift"])

        # A viewer reads but changes nothing (API and CLI).
        api.json("POST", "/api/v1/users", 201, json={"username": "viewer", "password": "viewer-pass"})
        viewer = Http(server.url, {})
        basic = httpx.BasicAuth("viewer", "viewer-pass")
        assert viewer("GET", "/api/v1/addons", auth=basic).status_code == 200
        assert viewer("POST", "/api/v1/addons", auth=basic, content=ADDON_YAML,
                      headers={"Content-Type": "application/yaml"}).status_code == 403
        assert viewer("POST", "/api/v1/addons/agent/rollout/pause", auth=basic).status_code == 403
        assert viewer("DELETE", "/api/v1/addons/agent?confirm=agent", auth=basic).status_code == 403
        assert viewer("POST", "/api/v1/addons/agent/rollout/pause").status_code == 401  # anonymous
        viewer_token = viewer.json("POST", "/api/v1/users/me/tokens", 201, json={"name": "cli"}, auth=basic)["token"]
        assert "administrator" in cli("rollout", "abort", "agent", code=5, token=viewer_token)

        # A new version starts a second rollout (YAML body straight to the API); abort rolls the canary back.
        doc = ADDON_YAML.replace('version: "0.1.0"', 'version: "0.2.0"').replace("v1", "v2")
        applied = api.json("POST", "/api/v1/addons", content=doc, headers={"Content-Type": "application/yaml"})
        assert applied["generation"] == 2 and applied["spec"]["version"] == "0.2.0"
        second = wait_for(latest, lambda r: r["id"] != rollout_id and r["state"] == "waiting-approval",
                          "the second rollout")
        api.json("POST", "/api/v1/addons/agent/rollout/approve", json={})
        # Paused while the canary upgrades: the canary finishes, the next wave does not come up.
        wait_for(latest, lambda r: r["waves"][0]["targets"][0]["operation_id"] is not None, "the canary started")
        assert "paused" in cli("rollout", "pause", "agent")
        wait_for(latest, lambda r: r["waves"][0]["targets"][0]["state"] == "healthy", "the canary on 0.2.0")
        time.sleep(1)  # a few controller passes
        assert latest()["state"] == "paused" and latest()["waves"][1]["state"] == "pending"
        cli("rollout", "resume", "agent")
        wait_for(latest, lambda r: r["current_wave"] == 1 and r["state"] == "waiting-approval", "wave 2 on 0.2.0")
        actions = [(e["who"], e["action"]) for e in latest()["events"]]
        assert ("admin", "approve") in actions and ("admin", "pause") in actions and ("admin", "resume") in actions
        assert _message(kubes["c1"]) == "v2-canary"
        aborted = api.json("POST", "/api/v1/addons/agent/rollout/abort")
        assert aborted["state"] in ("aborting", "aborted")
        wait_for(latest, lambda r: r["state"] == "aborted", "the abort")
        assert _message(kubes["c1"]) == "v1-canary"  # rolled back to the previous revision
        history = api.json("GET", "/api/v1/addons/agent/rollouts")
        assert [r["id"] for r in history] == [second["id"], rollout_id]
        assert "aborted" in cli("rollout", "history", "agent")
        assert "state aborted" in cli("rollout", "status", "agent", "--watch", code=1)  # final, not succeeded
        cli("rollout", "status", "nope", code=3)
        assert api.json("GET", f"/api/v1/rollouts/{rollout_id}")["state"] == "succeeded"
        assert api("POST", "/api/v1/addons/agent/rollout/approve").status_code == 409  # nothing to approve

        # Delete needs the name as confirmation, then uninstalls everywhere.
        assert "--yes" in cli("addon", "delete", "agent", code=2)
        r = api("DELETE", "/api/v1/addons/agent")
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        assert "deleting" in cli("addon", "delete", "agent", "--yes")
        wait_for(lambda: api("GET", "/api/v1/addons/agent").status_code, lambda s: s == 404, "the delete", 90)
        assert _message(kubes["c1"]) is None
        assert cli("addon", "list") == ""
        assert "c1-token" not in server.log() and "c2-token" not in server.log()


@pytest.mark.parametrize("kube_api_options", [{"token": "bad-input-token"}])
def test_bad_addon_documents_are_refused_clearly(client: TestClient[Any], admin_token: str,
                                                 kube_api: KubeApiServer, tmp_path: Path) -> None:
    """What a person gets wrong in an addon file comes back as a 400 naming the problem."""
    h = {"Authorization": f"Bearer {admin_token}"}
    kc = kube_api.write_kubeconfig(tmp_path / "kc.yaml").read_text()
    assert client.post("/api/v1/clusters", json={"name": "c1", "kubeconfig": kc, "labels": {"env": "prod"}},
                       headers=h).status_code == 201
    assert client.post("/api/v1/projects", json={"name": "library"}, headers=h).status_code == 201
    assert client.post("/api/library/charts", content=demo_tgz("0.1.0", crd=False), headers=h).status_code == 201
    yaml_h = {**h, "Content-Type": "application/yaml"}

    def refused(body: str | dict[str, Any], headers: dict[str, str]) -> str:
        r = client.post("/api/v1/addons", **({"json": body} if isinstance(body, dict) else {"content": body}),
                        headers=headers)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        return str(r.json()["detail"])

    good = "name: agent\nchart: library/demo\nversion: '0.1.0'\ntargets: env=prod\n"
    assert "not valid YAML" in refused("name: agent\nchart: [oops\n", yaml_h)
    assert "unknown field `colour`" in refused(good + "colour: blue\n", yaml_h)
    assert "unknown field `wavez` - at `$.strategy`" in refused(good + "strategy: {wavez: 3}\n", yaml_h)
    assert 'quote it' in refused(good.replace("'0.1.0'", "1.10"), yaml_h)
    assert "`name`" in refused("chart: library/demo\nversion: '1'\n", yaml_h)
    assert "empty" in refused("", yaml_h)
    assert "not valid JSON" in refused("{name: ", {**h, "Content-Type": "application/json"})
    assert "unknown field" in refused({"name": "agent", "chart": "library/demo", "version": "1", "x": 1}, h)
    assert "selector" in refused(good.replace("env=prod", "env in (prod"), yaml_h).lower()
    r = client.post("/api/v1/addons/agent/rollout/explode", headers=h)
    assert r.status_code == 400 and "unknown rollout action" in r.json()["detail"]
    assert client.get("/api/v1/addons/nope", headers=h).status_code == 404
    assert client.get("/api/v1/rollouts/999", headers=h).status_code == 404
    assert client.get("/api/v1/rollouts/999/events", headers=h).status_code == 404
    assert client.get("/api/v1/addons").status_code == 401  # reads need a signed-in caller
    assert client.get("/api/v1/addons", headers=h).json() == []
