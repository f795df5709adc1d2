"""Addon rollout benchmark against the Kubernetes API test server (tests/kubeapi).

Usage: python bench/rollout.py [--clusters 50] [--wave-size 10] [--workers 4]

Rolls one addon (the demo chart: ConfigMap, Deployment, Service) to ``--clusters`` emulated clusters in
waves of ``--wave-size`` with ``--workers`` installer workers; the whole wave is submitted at once
(``max_parallel`` = wave size), the health gate checks every cluster. Prints:
- the total rollout time (apply to ``succeeded``);
- the critical path it cannot beat: per wave, the slowest install from submission to completion through
  the installer (its queueing behind the workers included), summed over the waves; and the ratio
  (target <= 1.2x): what waves, health gates and the controller add;
- the time to install the same chart on the 50 clusters one after another through the same installer
  (each operation with helm --wait, i.e. its own health wait), and the ratio to the rollout.
The controller runs as in production (its background thread, ``interval`` 0.05 s), on SQLite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from appmarket.addons.schemas import AddonSpec, Strategy  # noqa: E402
from appmarket.app import create_app  # noqa: E402
from appmarket.installer.operations import FINAL  # noqa: E402
from appmarket.installer.schemas import ReleaseRequest  # noqa: E402
from appmarket.services import Services, bootstrap  # noqa: E402
from appmarket.settings import AddonSettings, InstallerSettings, load_settings  # noqa: E402
from tests.installer_helpers import demo_tgz  # noqa: E402
from tests.kubeapi.server import KubeApiServer  # noqa: E402


def wait_op(services: Services, op_id: int) -> Any:
    while True:
        op, _ = services.releases.store.get(op_id)
        if op.state in FINAL:
            return op
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--wave-size", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--no-sequential", action="store_true", help="skip the one-after-another comparison")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="appmarket-bench-rollout-"))
    settings = load_settings(environ={}, data_dir=str(tmp / "data"), publish_catalog=False)
    settings = msgspec.structs.replace(
        settings, installer=InstallerSettings(workers=args.workers, poll_interval=0.05, health_interval=3600),
        addons=AddonSettings(interval=0.05, drift_interval=3600))
    token = bootstrap(settings)
    h = {"Authorization": f"Bearer {token}"}
    clusters = [KubeApiServer(token=f"bench-{i}").start() for i in range(args.clusters)]
    try:
        with TestClient(create_app(settings), timeout=120) as client:
            services: Services = client.app.state.services
            admin = services.auth.authenticate_bearer(str(token))
            client.post("/api/v1/projects", json={"name": "library"}, headers=h)
            r = client.post("/api/library/charts", content=demo_tgz(crd=False), headers=h)
            assert r.status_code == 201, r.text
            for i, kube in enumerate(clusters):
                kc = kube.write_kubeconfig(tmp / f"kc-{i}.yaml").read_text()
                r = client.post("/api/v1/clusters", json={"name": f"c{i:02d}", "kubeconfig": kc,
                                                          "labels": {"fleet": "bench"}}, headers=h)
                assert r.status_code == 201, r.text

            spec = AddonSpec(name="agent", chart="library/demo", version="0.1.0", namespace="bench",
                             values={"message": "rollout"}, targets="fleet=bench",
                             strategy=Strategy(wave_size=args.wave_size, max_parallel=args.wave_size,
                                               health_timeout=120))
            started = time.perf_counter()
            services.addons.apply(admin, spec)
            while (out := services.addons.latest_rollout(admin, "agent")).state not in ("succeeded", "halted"):
                time.sleep(0.05)
            total = time.perf_counter() - started
            assert out.state == "succeeded", out.message
            critical = 0.0
            previous_done = None
            for wave in out.waves:
                spans, ops = [], []
                for t in wave.targets:
                    assert t.operation_id is not None
                    op = wait_op(services, t.operation_id)
                    ops.append(op)
                    spans.append((op.finished_at - op.created_at).total_seconds())
                critical += max(spans)
                assert wave.started_at is not None and wave.finished_at is not None
                first, last = min(o.created_at for o in ops), max(o.created_at for o in ops)
                done = max(o.finished_at for o in ops)
                print(f"{wave.name}: {len(wave.targets)} clusters, slowest install {max(spans):.2f} s "
                      f"(submission to completion); submissions over {(last - first).total_seconds():.2f} s, "
                      f"first submission to last completion {(done - first).total_seconds():.2f} s, "
                      f"previous wave's last completion to first submission "
                      f"{(first - previous_done).total_seconds() if previous_done else 0:.2f} s")
                previous_done = done
            assert previous_done is not None
            print(f"last completion to rollout succeeded: {(out.updated_at - previous_done).total_seconds():.2f} s")
            print(f"rollout of {args.clusters} clusters in waves of {args.wave_size}, {args.workers} workers: "
                  f"{total:.1f} s")
            print(f"sum over waves of the slowest install: {critical:.1f} s; ratio {total / critical:.2f}x "
                  "(target <= 1.2x)")

            if args.no_sequential:
                return
            started = time.perf_counter()
            for i in range(args.clusters):
                op = services.releases.install(admin, f"c{i:02d}", "bench", "seq", ReleaseRequest(
                    chart="library/demo", version="0.1.0", values={"message": "seq"}, wait=True, atomic=False))
                assert wait_op(services, op.id).state == "succeeded"
            sequential = time.perf_counter() - started
            print(f"one after another through the same installer (helm --wait): {sequential:.1f} s; "
                  f"the rollout took {total / sequential:.2f}x of that")
    finally:
        for kube in clusters:
            kube.stop()


if __name__ == "__main__":
    main()
