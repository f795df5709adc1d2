"""OCI registry benchmark: AppMarket beside the CNCF Distribution reference registry, same client.

Usage: python bench/oci.py [--blob-mib 256] [--charts 50] [--seconds 5] [--concurrency 32]
                          [--only blob,helm,manifests,rss] [--repeat 1]

Distribution is Debian's ``docker-registry`` package (filesystem storage in a temp dir, its own port);
when it is not installed, AppMarket is measured alone. Clients are curl (blob push and pull, streamed
from and to files), helm (chart push and pull) and aiohttp (manifest HEAD/GET with N concurrent
keep-alive clients). Prints each figure for both and the ratio AppMarket/Distribution.

``--only helm`` runs just the chart figures. Charts are pushed to the two registries in turn, and the
server's CPU per push is printed beside the wall time: on a shared machine it moves far less. With
``--repeat N`` every round uses fresh chart names and the median of the rounds is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appmarket.services import bootstrap  # noqa: E402
from appmarket.settings import load_settings  # noqa: E402
from tests.support.app import start_server, stop_server  # noqa: E402
from tests.support.charts import make_chart_tgz  # noqa: E402
from tests.support.helm import Helm  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Target:
    def __init__(self, name: str, url: str, headers: dict[str, str], pid: int) -> None:
        self.name, self.url, self.headers, self.pid = name, url, headers, pid
        self.host = url.removeprefix("http://")

    def curl(self, *args: str) -> tuple[int, float]:
        hdrs = [x for k, v in self.headers.items() for x in ("-H", f"{k}: {v}")]
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *hdrs, *args],
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[0]), float(out[1])


def start_distribution(tmp: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("docker-registry")
    if binary is None:
        return None
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "distribution")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("docker-registry did not start")


def bench_blob(t: Target, blob: Path, digest: str) -> tuple[float, float]:
    size_mb = blob.stat().st_size / 1e6
    r = httpx.post(f"{t.url}/v2/bench/blob/blobs/uploads/", headers=t.headers)
    location = r.headers["location"]
    location = location if location.startswith("http") else t.url + location
    sep = "&" if "?" in location else "?"
    code, secs = t.curl("-T", str(blob), "-H", "Content-Type: application/octet-stream",
                        f"{location}{sep}digest={digest}")
    assert code == 201, f"{t.name} push answered {code}"
    push = size_mb / secs
    code, secs = t.curl("-L", f"{t.url}/v2/bench/blob/blobs/{digest}")
    assert code == 200, f"{t.name} pull answered {code}"
    return push, size_mb / secs


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (all threads): steadier than wall time on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_helm(targets: list[Target], helm: Helm, pkgs: list[Path], out: Path) -> dict[str, dict[str, float]]:
    """Seconds per chart for ``helm push`` and ``helm pull``, and each server's CPU milliseconds per push.

    Charts go to the registries in turn (the order alternating per chart), so a burst of load from another
    process on a shared machine hits both alike instead of whichever registry happened to be running.
    """
    push = dict.fromkeys((t.name for t in targets), 0.0)
    pull, cpu = dict(push), dict(push)
    for i, pkg in enumerate(pkgs):
        for t in targets if i % 2 == 0 else targets[::-1]:
            before, start = cpu_seconds(t.pid), time.perf_counter()
            helm.run("push", str(pkg), f"oci://{t.host}/bench", "--plain-http")
            push[t.name] += time.perf_counter() - start
            cpu[t.name] += cpu_seconds(t.pid) - before
    for i, pkg in enumerate(pkgs):
        name = pkg.name.removesuffix("-1.0.0.tgz")
        for t in targets if i % 2 == 0 else targets[::-1]:
            start = time.perf_counter()
            helm.run("pull", f"oci://{t.host}/bench/{name}", "--version", "1.0.0", "--plain-http",
                     "-d", str(out / t.name))
            pull[t.name] += time.perf_counter() - start
    n = len(pkgs)
    return {t.name: {"helm push s/chart": push[t.name] / n, "helm pull s/chart": pull[t.name] / n,
                     "helm push server CPU ms/chart": cpu[t.name] * 1000 / n} for t in targets}


def push_manifest(t: Target) -> str:
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    location = httpx.post(f"{t.url}/v2/bench/m/blobs/uploads/", headers=t.headers).headers["location"]
    location = location if location.startswith("http") else t.url + location
    sep = "&" if "?" in location else "?"
    assert httpx.put(f"{location}{sep}digest={digest}", content=config, headers=t.headers).status_code == 201
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest,
                                  "size": 2}, "layers": []}).encode()
    r = httpx.put(f"{t.url}/v2/bench/m/manifests/latest", content=body,
                  headers={**t.headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    return "latest"


async def bench_manifests(t: Target, method: str, seconds: float, concurrency: int) -> tuple[float, float]:
    url = f"{t.url}/v2/bench/m/manifests/latest"
    # Anonymous pulls of a public project: the reference registry runs without auth, so this compares
    # the same work (AppMarket still resolves the project and checks the permission matrix).
    headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.request(method, url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append(time.perf_counter() - t0)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


PARTS = ("blob", "helm", "manifests", "rss")


def make_blob(tmp: Path, mib: int) -> tuple[Path, str]:
    blob = tmp / "blob.bin"
    h = hashlib.sha256()
    with blob.open("wb") as fh:
        for _ in range(mib):
            data = os.urandom(1024 * 1024)
            fh.write(data)
            h.update(data)
    return blob, "sha256:" + h.hexdigest()


def make_charts(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    pkgs = []
    for i in range(count):
        p = directory / f"{directory.name}-chart{i:03d}-1.0.0.tgz"
        p.write_bytes(make_chart_tgz(f"{directory.name}-chart{i:03d}", "1.0.0"))
        pkgs.append(p)
    return pkgs


def run_round(targets: list[Target], parts: set[str], args: argparse.Namespace, helm: Helm, blob: Path,
              digest: str, work: Path) -> dict[str, dict[str, float]]:
    """One round of the chosen figures against every registry (fresh chart names per round)."""
    r: dict[str, dict[str, float]] = {t.name: {} for t in targets}
    if "blob" in parts:
        for t in targets:
            r[t.name]["blob push MB/s"], r[t.name]["blob pull MB/s"] = bench_blob(t, blob, digest)
    if "helm" in parts:
        pkgs = make_charts(work, args.charts)
        for t in targets:
            (work / t.name).mkdir()
        for name, figures in bench_helm(targets, helm, pkgs, work).items():
            r[name].update(figures)
    if "manifests" in parts:
        for t in targets:
            push_manifest(t)
            for method in ("HEAD", "GET"):
                rps, p99 = asyncio.run(bench_manifests(t, method, args.seconds, args.concurrency))
                r[t.name][f"manifest {method} req/s"], r[t.name][f"manifest {method} p99 ms"] = rps, p99
    if "rss" in parts:
        for t in targets:
            r[t.name]["server peak RSS MiB"] = peak_rss_mib(t.pid)
    return r


def print_table(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    print(f"{'figure':28s}" + "".join(f"{n:>16s}" for n in names) + ("      ratio" if len(names) == 2 else ""))
    for key in results[names[0]]:
        row = f"{key:28s}" + "".join(f"{results[n][key]:16.3f}" for n in names)
        if len(names) == 2 and results[names[1]][key]:
            row += f"{results[names[0]][key] / results[names[1]][key]:11.2f}"
        print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blob-mib", type=int, default=256)
    parser.add_argument("--charts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all): {','.join(PARTS)}")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the chosen parts this many times (fresh chart names) and print the median")
    args = parser.parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    tmp = Path(tempfile.mkdtemp(prefix="oci-bench-"))
    settings = load_settings(environ={}, data_dir=str(tmp / "appmarket"), publish_catalog=False)
    token = bootstrap(settings)
    assert token
    server = start_server(settings, token, tmp / "appmarket.log")
    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{token}".encode()).decode()}
    httpx.post(f"{server.url}/api/v1/projects", json={"name": "bench", "visibility": "public"}, headers=auth)
    targets = [Target("appmarket", server.url, auth, server.process.pid)]
    dist = start_distribution(tmp)
    if dist is None:
        print("docker-registry is not installed: benchmarking AppMarket alone")
    else:
        targets.append(Target("distribution", dist[1], {}, dist[0].pid))
    try:
        blob, digest = make_blob(tmp, args.blob_mib) if "blob" in parts else (tmp, "")
        helm = Helm(tmp / "helm")
        helm.run("registry", "login", server.host_port, "-u", "admin", "-p", token, "--plain-http")
        rounds: list[dict[str, dict[str, float]]] = []
        for n in range(args.repeat):
            # Alternate which registry goes first, so a noisy neighbour does not always hit the same one.
            order = targets if n % 2 == 0 else targets[::-1]
            rounds.append(run_round(order, parts, args, helm, blob, digest, tmp / f"round{n}"))
            if args.repeat > 1:
                print(f"round {n + 1}/{args.repeat}")
                print_table({t.name: rounds[-1][t.name] for t in targets})
        if args.repeat > 1:
            print(f"median of {args.repeat} rounds")
        print_table({t.name: {k: statistics.median(r[t.name][k] for r in rounds) for k in rounds[0][t.name]}
                     for t in targets})
    finally:
        stop_server(server)
        if dist is not None:
            dist[0].terminate()
            dist[0].wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
