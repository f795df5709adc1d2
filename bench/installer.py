"""Installer benchmark against the Kubernetes API test server (tests/kubeapi).

Usage: python bench/installer.py [--rounds 8] [--installs 100] [--clusters 10] [--workers 4]

1. Overhead: ``--rounds`` installs and upgrades of the demo chart (CRD, ConfigMap, Deployment,
   Service, custom resource; ``--wait``) through AppMarket (API request -> operation -> worker -> helm
   -> recorded outcome) against the same ``helm upgrade --install --wait`` run directly with a
   kubeconfig file, in alternating order. Prints medians and the ratio (target <= 1.10x), measured end
   to end and from the time AppMarket spends outside helm (request, queue, claim, chart copy,
   recording; from the operation's events), which is steadier than helm's own run-to-run noise.
2. Throughput: ``--installs`` installs spread over ``--clusters`` fake clusters with ``--workers``
   workers, from submission to the last final state, in operations per minute (and the same number
   of direct helm runs, ``--workers`` at a time, for comparison).
The API is driven in process (Litestar TestClient) on SQLite; helm is the real binary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from appmarket.app import create_app  # noqa: E402
from appmarket.installer.helm import find_helm  # noqa: E402
from appmarket.services import bootstrap  # noqa: E402
from appmarket.settings import InstallerSettings, load_settings  # noqa: E402
from tests.installer_helpers import demo_tgz  # noqa: E402
from tests.kubeapi.server import KubeApiServer  # noqa: E402

FINAL = ("succeeded", "failed", "cancelled")


def wait_final(client: TestClient[Any], h: dict[str, str], op_id: int) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/operations/{op_id}", headers=h).json()
        if body["state"] in FINAL:
            return body
        time.sleep(0.02)


def direct_helm(home: Path, kubeconfig: Path, chart: Path, name: str, values: str) -> float:
    env = {"HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data"), "HOME": str(home), "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    subprocess.run([find_helm(), "upgrade", name, str(chart), "--install", "--namespace", "bench",
                    "--create-namespace", "--wait", "--wait-for-jobs", "--rollback-on-failure", "--timeout", "60s",
                    "--output", "json", "--values", "-", "--kubeconfig", str(kubeconfig)],
                   input=values.encode(), env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--installs", type=int, default=100)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="appmarket-bench-installer-"))
    settings = load_settings(environ={}, data_dir=str(tmp / "data"), publish_catalog=False)
    settings = msgspec.structs.replace(settings, installer=InstallerSettings(workers=args.workers,
                                                                              poll_interval=0.05))
    token = bootstrap(settings)
    h = {"Authorization": f"Bearer {token}"}
    chart = tmp / "demo-0.1.0.tgz"
    chart.write_bytes(demo_tgz())
    clusters = [KubeApiServer(token=f"bench-{i}").start() for i in range(args.clusters)]
    try:
        with TestClient(create_app(settings), timeout=120) as client:
            client.post("/api/v1/projects", json={"name": "library"}, headers=h)
            client.post("/api/library/charts", content=chart.read_bytes(), headers=h)
            for i, kube in enumerate(clusters):
                kc = kube.write_kubeconfig(tmp / f"kc-{i}.yaml").read_text()
                r = client.post("/api/v1/clusters", json={"name": f"c{i}", "kubeconfig": kc}, headers=h)
                assert r.status_code == 201, r.text
            kc0 = tmp / "kc-0.yaml"
            base = "/api/v1/clusters/c0/namespaces/bench/releases"
            rows: dict[str, list[float]] = {f"{who} {kind}": [] for kind in ("install", "upgrade")
                                            for who in ("direct", "appmarket", "outside-helm")}

            def direct(n: int) -> None:
                rows["direct install"].append(direct_helm(tmp / "helm", kc0, chart, f"d{n}", '{"message":"a"}'))
                rows["direct upgrade"].append(direct_helm(tmp / "helm", kc0, chart, f"d{n}", '{"message":"b"}'))

            def appmarket(n: int) -> None:
                for kind, method, body in (("install", "POST", {"chart": "library/demo", "values": {"message": "a"}}),
                                           ("upgrade", "PUT", {"values": {"message": "b"}})):
                    started = time.perf_counter()
                    op = client.request(method, f"{base}/a{n}", json=body, headers=h).json()
                    done = wait_final(client, h, op["id"])
                    total = time.perf_counter() - started
                    assert done["state"] == "succeeded"
                    rows[f"appmarket {kind}"].append(total)
                    at = {e["kind"]: dt.datetime.fromisoformat(e["at"]) for e in done["events"]}
                    rows[f"outside-helm {kind}"].append(total - (at["succeeded"] - at["helm"]).total_seconds())

            for n in range(args.rounds):  # alternate the order so drift in the fake cluster hits both sides
                for step in ((direct, appmarket) if n % 2 == 0 else (appmarket, direct)):
                    step(n)
            med = {k: statistics.median(v) for k, v in rows.items()}
            for k, v in med.items():
                print(f"{k:<22} median {v * 1000:7.0f} ms over {args.rounds}")
            for kind in ("install", "upgrade"):
                measured = med[f"appmarket {kind}"] / med[f"direct {kind}"]
                added = (med[f"direct {kind}"] + med[f"outside-helm {kind}"]) / med[f"direct {kind}"]
                print(f"overhead {kind:<8} {measured:.2f}x measured end to end, {added:.2f}x from the time AppMarket "
                      "spends outside helm (target <= 1.10x)")

            started = time.perf_counter()
            ops = [client.post(f"/api/v1/clusters/c{i % args.clusters}/namespaces/t/releases/r{i}",
                               json={"chart": "library/demo"}, headers=h).json()["id"] for i in range(args.installs)]
            states = [wait_final(client, h, op_id)["state"] for op_id in ops]
            elapsed = time.perf_counter() - started
            print(f"throughput: {args.installs} installs on {args.clusters} clusters, {args.workers} workers: "
                  f"{elapsed:.1f} s, {args.installs / elapsed * 60:.0f} operations/min "
                  f"({states.count('succeeded')} succeeded)")
            started = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda i: direct_helm(tmp / "helm", tmp / f"kc-{i % args.clusters}.yaml", chart,
                                                    f"x{i}", "{}"), range(args.installs)))
            elapsed = time.perf_counter() - started
            print(f"direct helm, {args.workers} at a time: {elapsed:.1f} s, "
                  f"{args.installs / elapsed * 60:.0f} installs/min")
    finally:
        for kube in clusters:
            kube.stop()


if __name__ == "__main__":
    main()
