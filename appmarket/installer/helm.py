"""The one module that drives helm, through pyhelm3 (an async wrapper around the helm binary).

Why async inside threads: pyhelm3 is asyncio-only, while the service layer and the database are
synchronous. Each installer worker thread owns an event loop (``run``) and awaits helm there, so a
long ``--wait`` never blocks the web server's loop and shutdown can cancel a running helm.

Credentials reach helm only as ``--kubeconfig <0600 temp file>``; values go in on stdin. Helm's
cache, config and data homes (and HOME, for client-go's cache) live under the data directory: a small
wrapper script sets them and ``exec``s the real binary, since pyhelm3 passes no environment of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from pyhelm3 import Command, errors

from appmarket.errors import NotFound, Upstream

T = TypeVar("T")


class HelmFailed(Upstream):
    """helm exited non-zero; ``output`` is its stderr (already scrubbed of credentials)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message, code="helm_failed")
        self.output = output


class ChartSource(msgspec.Struct, frozen=True):
    """What helm installs: a local package path, ``name`` with ``repo`` URL, or an ``oci://`` reference.

    ``plain_http``: the ``oci://`` registry speaks plain HTTP (``helm pull --plain-http``). Whatever is
    not a local file is pulled into a private temporary directory first (``Helm.fetch``).
    """

    ref: str
    repo: str | None = None
    version: str | None = None
    plain_http: bool = False


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one helm coroutine to completion from synchronous code (a worker or request thread)."""
    return asyncio.run(coro)


def find_helm(configured: str = "") -> str:
    """The configured binary, else helm next to this Python (the venv's pinned helm), else on PATH."""
    if configured:
        return configured
    beside = Path(sys.executable).parent / "helm"
    if beside.exists():
        return str(beside)
    # Resolved again on PATH when it runs; a missing helm fails the operation, not the start-up.
    return shutil.which("helm") or "helm"


def terminate(kubeconfig: Path, sig: int = signal.SIGTERM) -> int:
    """SIGTERM the helm processes using ``kubeconfig`` (unique per operation); returns how many.

    pyhelm3 runs helm under ``sh -c``, so cancelling its task would only stop the shell; the private
    kubeconfig path in helm's arguments names exactly the processes of one operation.
    """
    needle = f"--kubeconfig\0{kubeconfig}\0".encode()
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), sig)
                count += 1
        except (OSError, ValueError):
            continue
    return count


STOP_GRACE = 5.0  # seconds helm gets to exit after SIGTERM


async def _stop(task: asyncio.Future[Any], kubeconfig: Path | None) -> None:
    """Stop a helm command still running: its processes first, then the pyhelm3 task waiting on them."""
    if kubeconfig is not None:
        terminate(kubeconfig)
        # helm cleans up on SIGTERM, which on a silent cluster may hang too: then it is killed.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
        if not task.done():
            terminate(kubeconfig, signal.SIGKILL)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def manifest_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two rendered manifests (empty when they are equal)."""
    old, new = old.strip() + "\n" if old.strip() else "", new.strip() + "\n"
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=old_label, tofile=new_label)
    return "".join(lines)


class Helm:
    """helm operations against one cluster, given the path of its private kubeconfig file."""

    def __init__(self, home: Path, binary: str = "", default_timeout: int = 300, history_max: int = 20,
                 read_timeout: float = 30.0, write_margin: float = 60.0) -> None:
        self.home = home
        self.default_timeout = default_timeout
        self.history_max = history_max
        # helm waits forever on a cluster that accepts connections and never answers: every call is
        # bounded, reads by ``read_timeout``, changes by their own --timeout plus ``write_margin``.
        self.read_timeout = read_timeout
        self.write_margin = write_margin
        home.mkdir(parents=True, exist_ok=True)
        self.executable = str(home / "helm")
        # HOME too: client-go keeps its discovery cache in $HOME/.kube/cache.
        env = " ".join(f"{k}={shlex.quote(str(home / d))}" for k, d in
                       (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data"),
                        ("HOME", ".")))
        script = f"#!/bin/sh\n{env} exec {shlex.quote(find_helm(binary))} \"$@\"\n"
        tmp = home / "helm.tmp"
        tmp.write_text(script)
        tmp.chmod(0o700)
        os.replace(tmp, self.executable)

    def _cmd(self, kubeconfig: Path) -> Command:
        return Command(executable=self.executable, kubeconfig=kubeconfig, default_timeout=f"{self.default_timeout}s",
                       history_max_revisions=self.history_max)

    def _timeout(self, seconds: int | None) -> str:
        return f"{seconds or self.default_timeout}s"

    def _write_limit(self, seconds: int | None) -> float:
        return (seconds or self.default_timeout) + self.write_margin

    async def _call(self, coro: Coroutine[Any, Any, T], scrub: tuple[str, ...], *,
                    kubeconfig: Path | None = None, limit: float | None = None) -> T:
        """Await one helm command, at most ``limit`` seconds (default ``read_timeout``).

        Past the limit the helm processes of ``kubeconfig`` are stopped (pyhelm3 runs helm under ``sh -c``:
        cancelling the task alone would only stop the shell) and the call fails as an unreachable cluster.
        """
        bound = self.read_timeout if limit is None else limit
        task = asyncio.ensure_future(coro)
        try:
            done, _ = await asyncio.wait({task}, timeout=bound)
        except asyncio.CancelledError:
            await _stop(task, kubeconfig)
            raise
        if not done:
            await _stop(task, kubeconfig)
            raise HelmFailed(f"kubernetes cluster unreachable: helm got no answer within {bound:g}s")
        try:
            return task.result()
        except errors.ReleaseNotFoundError as exc:
            raise NotFound("release not found") from exc
        except errors.Error as exc:
            text = _scrub(exc.stderr.decode(errors="replace"), scrub).strip()
            last = text.splitlines()[-1] if text else f"helm exited with {exc.returncode}"
            raise HelmFailed(last.removeprefix("Error: "), text) from None

    @asynccontextmanager
    async def fetch(self, chart: ChartSource) -> AsyncIterator[Path]:
        """The chart as a local package file: a local path as is, anything else ``helm pull``ed first.

        Pulling before installing lets preflight read the very package helm then installs, and is the
        only way to pass ``--plain-http`` (pyhelm3 cannot give it to ``helm upgrade``).
        """
        if chart.repo is None and not chart.ref.startswith("oci://"):
            yield Path(chart.ref)
            return
        pulls = self.home / "pulls"
        pulls.mkdir(mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=pulls) as tmp:
            args = ["pull", chart.ref, "--destination", tmp]
            if chart.repo:
                args += ["--repo", chart.repo]
            if chart.plain_http:
                args.append("--plain-http")
            if chart.version:
                args += ["--version", chart.version]
            await self._call(Command(executable=self.executable).run(args), (), limit=self._write_limit(None))
            packages = sorted(Path(tmp).glob("*.tgz"))
            if len(packages) != 1:
                raise HelmFailed(f"helm pull {chart.ref} left {len(packages)} packages, expected one")
            yield packages[0]

    async def install_or_upgrade(self, kubeconfig: Path, name: str, namespace: str, package: Path,
                                 values: dict[str, Any], *, atomic: bool = False, wait: bool = False,
                                 timeout: int | None = None, dry_run: bool = False, description: str | None = None,
                                 scrub: tuple[str, ...] = ()) -> dict[str, Any]:
        """``helm upgrade --install --reset-values`` of a package file with exactly ``values``.

        Always ``--reset-values``: the caller computes the user-supplied values itself (merging over the
        recorded ones for a merge upgrade), so the chart's own defaults apply, never an older chart's
        (helm's ``--reuse-values`` would keep those), and an upgrade without values really resets them.
        Returns helm's release record (manifest, info, version, config).
        """
        result = await self._call(self._cmd(kubeconfig).install_or_upgrade(
            name, str(package), values, atomic=atomic, create_namespace=True, namespace=namespace,
            reset_values=True, wait=wait, timeout=self._timeout(timeout), dry_run=dry_run,
            description=description), scrub, kubeconfig=kubeconfig, limit=self._write_limit(timeout))
        return dict(result)

    async def rollback(self, kubeconfig: Path, name: str, namespace: str, revision: int | None, *,
                       wait: bool = False, timeout: int | None = None, scrub: tuple[str, ...] = ()) -> None:
        await self._call(self._cmd(kubeconfig).rollback(name, revision, namespace=namespace, wait=wait,
                                                        timeout=self._timeout(timeout), cleanup_on_fail=True), scrub,
                         kubeconfig=kubeconfig, limit=self._write_limit(timeout))

    async def uninstall(self, kubeconfig: Path, name: str, namespace: str, *, wait: bool = False,
                        timeout: int | None = None, scrub: tuple[str, ...] = ()) -> None:
        await self._call(self._cmd(kubeconfig).uninstall(name, namespace=namespace, wait=wait,
                                                         timeout=self._timeout(timeout)), scrub,
                         kubeconfig=kubeconfig, limit=self._write_limit(timeout))

    async def status(self, kubeconfig: Path, name: str, namespace: str) -> dict[str, Any] | None:
        """helm's status record without the live resources, or None when helm knows no such release."""
        try:
            out = await self._call(self._cmd(kubeconfig).run(
                ["status", name, "--namespace", namespace, "--output", "json"]), (), kubeconfig=kubeconfig)
        except NotFound:
            return None
        doc: dict[str, Any] = json.loads(out)
        doc.get("info", {}).pop("resources", None)
        return doc

    async def status_manifest(self, kubeconfig: Path, name: str, namespace: str) -> tuple[str, str] | None:
        """Status and manifest of the latest revision, None when helm knows no such release. One ``helm get
        all`` with a template: a third of ``helm status``'s time, which also reads the release's resources."""
        try:
            out: bytes = await self._call(self._cmd(kubeconfig).run(
                ["get", "all", name, "--namespace", namespace, "--template",
                 "{{ .Release.Info.Status }}\n{{ .Release.Manifest }}"]), (), kubeconfig=kubeconfig)
        except NotFound:
            return None
        status, _, manifest = out.decode().partition("\n")
        return status.strip(), manifest

    async def history(self, kubeconfig: Path, name: str, namespace: str) -> list[dict[str, Any]]:
        """Revisions, oldest first; empty when helm knows no such release."""
        try:
            items = await self._call(self._cmd(kubeconfig).history(name, namespace=namespace), (),
                                     kubeconfig=kubeconfig)
        except NotFound:
            return []
        return sorted((dict(i) for i in items), key=lambda i: int(i["revision"]))

    async def values(self, kubeconfig: Path, name: str, namespace: str, *, revision: int | None = None,
                     computed: bool = False) -> dict[str, Any]:
        out = await self._call(self._cmd(kubeconfig).get_values(name, namespace=namespace, revision=revision,
                                                                computed=computed), (), kubeconfig=kubeconfig)
        return dict(out)

    async def manifest(self, kubeconfig: Path, name: str, namespace: str, revision: int | None = None) -> str:
        args = ["get", "manifest", name, "--namespace", namespace]
        if revision is not None:
            args += ["--revision", str(revision)]
        out: bytes = await self._call(self._cmd(kubeconfig).run(args), (), kubeconfig=kubeconfig)
        return out.decode()

    async def notes(self, kubeconfig: Path, name: str, namespace: str, revision: int | None = None) -> str:
        args = ["get", "notes", name, "--namespace", namespace]
        if revision is not None:
            args += ["--revision", str(revision)]
        out: bytes = await self._call(self._cmd(kubeconfig).run(args), (), kubeconfig=kubeconfig)
        return out.decode()


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
