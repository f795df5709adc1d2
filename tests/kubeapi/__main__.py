"""`python -m tests.kubeapi --port N --state-dir D`: run the emulator as its own process.

Prints `READY <url>` once listening so a parent can wait for it; switches can then be changed
with `PATCH /_kubeapi/switches` (JSON body, e.g. `{"workloads": "fail"}`). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .server import KubeApiServer
from .switches import MODES, NodeSpec


def _node(text: str) -> NodeSpec:
    """NAME[:ARCH[:GPUS]], e.g. gpu-1:arm64:2."""
    name, arch, gpus = [*text.split(":"), "", ""][:3]
    return NodeSpec(name, arch or "amd64", int(gpus or 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--token")
    parser.add_argument("--git-version", default="v1.36.2")
    parser.add_argument("--workloads", choices=MODES, default="ready")
    parser.add_argument("--node", action="append", type=_node, help="NAME[:ARCH[:GPUS]], repeatable")
    parser.add_argument("--plain-http", action="store_true", help="serve http:// (client-go then drops tokens)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig here once listening")
    args = parser.parse_args(argv)
    if args.state_dir:
        args.state_dir.mkdir(parents=True, exist_ok=True)
    server = KubeApiServer(port=args.port, token=args.token, git_version=args.git_version,
                           workloads=args.workloads, nodes=args.node, state_dir=args.state_dir, tls=not args.plain_http)
    done = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with server:
        if args.kubeconfig:
            server.write_kubeconfig(args.kubeconfig)
        print(f"READY {server.url}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
