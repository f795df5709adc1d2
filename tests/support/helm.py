"""Running the real helm binary with its state kept in a temporary home."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def helm_binary() -> str:
    found = shutil.which("helm", path=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise RuntimeError("helm is not installed: run scripts/install-kube-tools.sh")
    return found


class Helm:
    def __init__(self, home: Path) -> None:
        self.binary = helm_binary()
        self.env = {**os.environ,
                    "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
                    "HELM_DATA_HOME": str(home / "data"), "HOME": str(home)}

    def run(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True,
                              timeout=120, cwd=cwd, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def package(self, name: str, version: str, workdir: Path) -> Path:
        """``helm create`` a chart and package it at ``version``."""
        src = workdir / "src"
        src.mkdir(parents=True, exist_ok=True)
        if not (src / name).exists():
            self.run("create", name, cwd=src)
        self.run("package", str(src / name), "--version", version, "--app-version", version,
                 "-d", str(workdir))
        return workdir / f"{name}-{version}.tgz"
