"""The helm binary, driven by subprocess for packaging, dependency vendoring and rendering.

Why not pyhelm3: it is reserved for the installer (``appmarket/installer/helm.py``); publishing needs
three offline commands only. Helm state (cache, config, plugins) lives in a private temporary home so
publishing never reads or writes the operator's helm configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from appmarket.errors import Upstream

TIMEOUT = 120.0
# Renders see a recent cluster, so charts with a ``kubeVersion`` constraint render as they would install.
KUBE_VERSION = "1.33.0"


def helm_binary() -> str:
    """``helm`` beside the interpreter (the venv's pinned copy) first, then on PATH."""
    found = shutil.which("helm", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise Upstream("helm is not installed (scripts/install-kube-tools.sh installs the pinned version)")
    return found


class HelmCli:
    def __init__(self, home: Path, binary: str | None = None) -> None:
        self.binary = binary or helm_binary()
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
                    "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
                    "HELM_DATA_HOME": str(home / "data")}

    def run(self, *args: str, cwd: Path | None = None) -> str:
        try:
            proc = subprocess.run([self.binary, *args], env=self.env, cwd=cwd, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Upstream(f"helm {args[0]}: {exc}") from exc
        if proc.returncode != 0:
            raise Upstream(f"helm {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def dependency_update(self, chart_dir: Path) -> None:
        self.run("dependency", "update", "--skip-refresh", str(chart_dir))

    def package(self, chart_dir: Path, dest: Path) -> Path:
        out = self.run("package", str(chart_dir), "--destination", str(dest))
        path = out.strip().rsplit(": ", 1)[-1].strip()
        if not path.endswith(".tgz") or not Path(path).is_file():
            raise Upstream(f"helm package did not report a package: {out.strip()}")
        return Path(path)

    def template(self, chart: Path, release: str = "appmarket") -> str:
        return self.run("template", release, str(chart), "--kube-version", KUBE_VERSION)
