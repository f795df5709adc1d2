"""OCI registry benchmark: AppMarket beside the CNCF Distribution reference registry, same client.

Usage: python bench/oci.py [--blob-mib 256] [--charts 50] [--seconds 5] [--concurrency 32]

Distribution is Debian's ``docker-registry`` package (filesystem storage in a temp dir, its own port);
when it is not installed, AppMarket is measured alone. Clients are curl (blob push and pull, streamed
from and to files), helm (chart push and pull) and aiohttp (manifest HEAD/GET with N concurrent
keep-alive clients). Prints each figure for both and the ratio AppMarket/Distribution.
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


def bench_helm(t: Target, helm: Helm, pkgs: list[Path], out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    for pkg in pkgs:
        helm.run("push", str(pkg), f"oci://{t.host}/bench", "--plain-http")
    push = (time.perf_counter() - start) / len(pkgs)
    start = time.perf_counter()
    for i, _ in enumerate(pkgs):
        helm.run("pull", f"oci://{t.host}/bench/chart{i:03d}", "--version", "1.0.0", "--plain-http", "-d", str(out))
    return push, (time.perf_counter() - start) / len(pkgs)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blob-mib", type=int, default=256)
    parser.add_argument("--charts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
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
        blob = tmp / "blob.bin"
        with blob.open("wb") as fh:
            for _ in range(args.blob_mib):
                fh.write(os.urandom(1024 * 1024))
        h = hashlib.sha256()
        with blob.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        pkg_dir = tmp / "charts"
        pkg_dir.mkdir()
        pkgs = []
        for i in range(args.charts):
            p = pkg_dir / f"chart{i:03d}-1.0.0.tgz"
            p.write_bytes(make_chart_tgz(f"chart{i:03d}", "1.0.0"))
            pkgs.append(p)
        helm = Helm(tmp / "helm")
        helm.run("registry", "login", server.host_port, "-u", "admin", "-p", token, "--plain-http")
        results: dict[str, dict[str, float]] = {}
        for t in targets:
            r: dict[str, float] = {}
            r["blob push MB/s"], r["blob pull MB/s"] = bench_blob(t, blob, digest)
            out = tmp / f"pull-{t.name}"
            out.mkdir()
            r["helm push s/chart"], r["helm pull s/chart"] = bench_helm(t, helm, pkgs, out)
            push_manifest(t)
            for method in ("HEAD", "GET"):
                rps, p99 = asyncio.run(bench_manifests(t, method, args.seconds, args.concurrency))
                r[f"manifest {method} req/s"], r[f"manifest {method} p99 ms"] = rps, p99
            r["server peak RSS MiB"] = peak_rss_mib(t.pid)
            results[t.name] = r
        names = list(results)
        print(f"{'figure':28s}" + "".join(f"{n:>16s}" for n in names) + ("      ratio" if len(names) == 2 else ""))
        for key in results[names[0]]:
            row = f"{key:28s}" + "".join(f"{results[n][key]:16.3f}" for n in names)
            if len(names) == 2 and results[names[1]][key]:
                row += f"{results[names[0]][key] / results[names[1]][key]:11.2f}"
            print(row)
    finally:
        stop_server(server)
        if dist is not None:
            dist[0].terminate()
            dist[0].wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
