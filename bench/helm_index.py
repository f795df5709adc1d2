"""Helm index benchmark: a project of N chart versions, served by AppMarket vs. the machine's ceiling.

Usage: python bench/helm_index.py [N] [--names 100] [--requests 200] [--concurrency 8]

Prints one line per figure:
- upload-to-visible latency for one more version (median of 20): POST start until GET index.yaml
  contains it;
- GET index.yaml requests/s, p50, p99 with a concurrent keep-alive client;
- the same transfer from a plain static file server (the ceiling) and AppMarket's ratio of it;
- 304 revalidations per second;
- `helm repo index` over the same N packages, and the ratio to AppMarket's publish latency;
- peak RSS of the server process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from appmarket.auth.schemas import Principal  # noqa: E402
from appmarket.projects.schemas import ProjectCreate  # noqa: E402
from appmarket.services import bootstrap, build_services  # noqa: E402
from appmarket.settings import load_settings  # noqa: E402
from tests.support.app import start_server, stop_server  # noqa: E402
from tests.support.charts import make_chart_tgz  # noqa: E402
from tests.support.helm import helm_binary  # noqa: E402

ADMIN = Principal(kind="user", name="admin", user_id=1, is_admin=True)


def seed(data_dir: Path, pkg_dir: Path, n: int, names: int) -> tuple[str, float]:
    """Create the project and N versions through the service layer (fast), keeping the packages."""
    settings = load_settings(environ={}, data_dir=str(data_dir), publish_catalog=False)
    token = bootstrap(settings)
    assert token
    services = build_services(settings)
    services.projects.create(ADMIN, ProjectCreate(name="bench", visibility="public"))
    per_name = max(1, n // names)

    def one(i: int) -> None:
        name = f"chart{i % names:03d}"
        version = f"1.{i // names}.0"
        body = make_chart_tgz(name=name, version=version, description=f"benchmark chart {i}")
        (pkg_dir / f"{name}-{version}.tgz").write_bytes(body)
        import io  # noqa: PLC0415

        services.charts.upload(ADMIN, "bench", io.BytesIO(body))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    services.close()
    del per_name
    return token, elapsed


async def _load(host: str, port: int, path: str, count: int, concurrency: int,
                headers: dict[str, str]) -> tuple[float, list[float], int]:
    """Keep-alive HTTP/1.1 GETs over raw streams: a client cheap enough not to be the bottleneck."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    total_bytes = 0
    remaining = count

    async def worker() -> None:
        nonlocal remaining, total_bytes
        reader, writer = await asyncio.open_connection(host, port)
        while remaining > 0:
            remaining -= 1
            t = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            if length:
                await reader.readexactly(length)
            total_bytes += length
            latencies.append(time.perf_counter() - t)
            assert status_line.split()[1] in (b"200", b"304"), status_line
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies, total_bytes


def load(url: str, path: str, count: int, concurrency: int, headers: dict[str, str] | None = None
         ) -> tuple[float, float, float, float]:
    host, port = url.removeprefix("http://").split(":")
    elapsed, lat, nbytes = asyncio.run(_load(host, int(port), path, count, concurrency, headers or {}))
    lat.sort()
    return count / elapsed, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99) - 1] * 1000, nbytes / elapsed


class _KeepAliveHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


def static_server(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_KeepAliveHandler, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--names", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--skip-helm", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        pkg_dir = tmpdir / "packages"
        pkg_dir.mkdir()
        token, seed_s = seed(tmpdir / "data", pkg_dir, args.n, args.names)
        print(f"seed: {args.n} versions across {args.names} charts in {seed_s:.1f} s "
              f"({args.n / seed_s:.0f} uploads/s through the service layer)")
        settings = load_settings(environ={}, data_dir=str(tmpdir / "data"), publish_catalog=False)
        server = start_server(settings, token, tmpdir / "server.log")
        try:
            url = server.url
            index = httpx.get(f"{url}/bench/index.yaml").content
            print(f"index.yaml size: {len(index) / 1e6:.2f} MB")

            lat_visible, lat_after = [], []
            with httpx.Client(auth=("admin", token), timeout=60) as c:
                for i in range(20):
                    body = make_chart_tgz(name="fresh", version=f"9.{i}.0")
                    t0 = time.perf_counter()
                    r = c.post(f"{url}/api/bench/charts", content=body)
                    assert r.status_code == 201, r.text
                    t1 = time.perf_counter()
                    while f"version: 9.{i}.0".encode() not in c.get(f"{url}/bench/index.yaml").content:
                        pass
                    t2 = time.perf_counter()
                    lat_visible.append((t2 - t0) * 1000)
                    lat_after.append((t2 - t1) * 1000)
            print(f"upload-to-visible at {args.n} versions: median {statistics.median(lat_visible):.1f} ms "
                  f"(of which after the upload response: {statistics.median(lat_after):.1f} ms) "
                  f"[target <= 100 ms]")

            load(url, "/bench/index.yaml", 10, 2)  # warm up
            rps, p50, p99, bps = load(url, "/bench/index.yaml", args.requests, args.concurrency)
            print(f"GET index.yaml: {rps:.1f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {bps / 1e6:.0f} MB/s")

            static_dir = tmpdir / "static"
            static_dir.mkdir()
            (static_dir / "index.yaml").write_bytes(httpx.get(f"{url}/bench/index.yaml").content)
            srv, static_url = static_server(static_dir)
            s_rps, s_p50, s_p99, _ = load(static_url, "/index.yaml", args.requests, args.concurrency)
            srv.shutdown()
            print(f"static file server, same bytes: {s_rps:.1f} req/s, p50 {s_p50:.1f} ms, p99 {s_p99:.1f} ms")
            print(f"GET index.yaml ratio to static ceiling: {rps / s_rps:.2f}x [target >= 0.5x]")

            etag = httpx.get(f"{url}/bench/index.yaml").headers["etag"]
            load(url, "/bench/index.yaml", 200, 8, {"If-None-Match": etag})
            n304 = max(2000, args.requests * 10)
            r_rps, r_p50, r_p99, _ = load(url, "/bench/index.yaml", n304, 16, {"If-None-Match": etag})
            print(f"304 revalidation: {r_rps:.0f} req/s, p50 {r_p50:.2f} ms, p99 {r_p99:.2f} ms "
                  f"[target >= 2000 req/s]")
            rss, peak = rss_mib(server.process.pid)
            print(f"server RSS: {rss:.0f} MiB now, {peak:.0f} MiB peak [target <= 300 MiB]")
        finally:
            stop_server(server)

        if not args.skip_helm:
            t0 = time.perf_counter()
            subprocess.run([helm_binary(), "repo", "index", str(pkg_dir)], check=True, capture_output=True,
                           env={**os.environ, "HELM_CACHE_HOME": str(tmpdir / "hc")})
            helm_s = time.perf_counter() - t0
            print(f"helm repo index over {args.n} packages: {helm_s:.2f} s; AppMarket publish-to-visible is "
                  f"{helm_s * 1000 / statistics.median(lat_visible):.0f}x faster")


if __name__ == "__main__":
    main()
