"""Addon rollout benchmark against the Kubernetes API test server (tests/kubeapi).

Usage: python bench/rollout.py [--clusters 50] [--wave-size 10] [--workers 4]

Rolls one addon (the demo chart: ConfigMap, Deployment, Service) to ``--clusters`` emulated clusters in
waves of ``--wave-size`` with ``--workers`` installer workers; the whole wave is submitted at once
(``max_parallel`` = wave size), the health gate checks every cluster. Prints:
- the total rollout time (apply to ``succeeded``);
- per wave, the *wave install phase*: first submission to last finish of the wave's installs (time queued
  behind the workers included); summed over the waves and compared with the total (target <= 1.2x),
  what the health gates and the controller add around the installs;
- per wave, the slowest single install's pure run time (``started_at`` to ``finished_at``, no queueing),
  the phase's ratio to it, and the theoretical bound ceil(wave size / workers) x that slowest run;
  summed, the total's ratio to the bound shows queueing and controller overhead together, honestly;
- the time to install the same chart on every cluster one after another through the same installer with
  the rollout's own wait semantics (``wait=False``, then the same health check until healthy), and the
  rollout's ratio to it.
The controller runs as in production (its background thread, ``interval`` 0.05 s), on SQLite.
"""

from __future__ import annotations

import argparse
import math
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
            phases = bound = 0.0
            previous_done = None
            for wave in out.waves:
                ops = []
                for t in wave.targets:
                    assert t.operation_id is not None
                    ops.append(wait_op(services, t.operation_id))
                first, last = min(o.created_at for o in ops), max(o.created_at for o in ops)
                done = max(o.finished_at for o in ops)
                phase = (done - first).total_seconds()
                slowest = max((o.finished_at - o.started_at).total_seconds() for o in ops)
                ceiling = math.ceil(len(ops) / args.workers) * slowest
                phases, bound = phases + phase, bound + ceiling
                print(f"{wave.name}: {len(ops)} clusters; wave install phase (first submit to last finish) "
                      f"{phase:.2f} s; slowest single install run (started to finished) {slowest:.2f} s, "
                      f"phase/slowest {phase / slowest:.2f}x; bound ceil({len(ops)}/{args.workers}) x slowest "
                      f"{ceiling:.2f} s; submissions over {(last - first).total_seconds():.2f} s; previous "
                      f"wave's last finish to first submit "
                      f"{(first - previous_done).total_seconds() if previous_done else 0:.2f} s")
                previous_done = done
            assert previous_done is not None
            print(f"last finish to rollout succeeded: {(out.updated_at - previous_done).total_seconds():.2f} s")
            print(f"rollout of {args.clusters} clusters in waves of {args.wave_size}, {args.workers} workers: "
                  f"{total:.1f} s")
            print(f"sum of wave install phases (first submit to last finish): {phases:.1f} s; "
                  f"total/phases {total / phases:.2f}x (target <= 1.2x)")
            print(f"sum of bounds ceil(wave/workers) x slowest install run: {bound:.1f} s; "
                  f"total/bound {total / bound:.2f}x (queueing and controller overhead together)")

            if args.no_sequential:
                return
            runner = services.addons.controller.runner
            seq = msgspec.structs.replace(spec, release="seq")
            started = time.perf_counter()
            for i in range(args.clusters):
                op = services.releases.install(admin, f"c{i:02d}", "bench", "seq", ReleaseRequest(
                    chart="library/demo", version="0.1.0", values={"message": "seq"}, wait=False, atomic=False))
                assert wait_op(services, op.id).state == "succeeded"
                deadline = time.monotonic() + seq.strategy.health_timeout
                while not runner.health(seq, f"c{i:02d}").healthy:  # the rollout's own health gate
                    assert time.monotonic() < deadline, f"c{i:02d} not healthy within the health timeout"
                    time.sleep(0.05)
            sequential = time.perf_counter() - started
            print(f"one after another through the same installer (wait=False, then the same health check): "
                  f"{sequential:.1f} s; the rollout took {total / sequential:.2f}x of that")
    finally:
        for kube in clusters:
            kube.stop()


if __name__ == "__main__":
    main()
