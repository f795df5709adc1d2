"""``appmarket cluster ...``: register and label clusters on a running server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from appmarket.cli.client import api_call


def _call(method: str, path: str, json: Any = None) -> Any:
    return api_call(method, path, json, timeout=60)


def _show(c: dict[str, Any]) -> None:
    caps = c.get("capabilities") or {}
    state = "reachable" if caps.get("reachable") else f"unreachable ({caps.get('error', '')})"
    gpus = ", ".join(f"{k}={v}" for k, v in (caps.get("gpus") or {}).items()) or "no GPUs"
    labels = ",".join(f"{k}={v}" for k, v in sorted(c["labels"].items())) or "-"
    click.echo(f"{c['name']}\t{state}\t{caps.get('version', '?')}\t{caps.get('node_count', 0)} nodes\t"
               f"{'/'.join(caps.get('architectures') or [])}\t{gpus}\t{labels}")


@click.group("cluster")
def cluster_group() -> None:
    """Registered Kubernetes clusters."""


@cluster_group.command("add")
@click.argument("name")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--context", default=None, help="Context to use (default: the current context).")
@click.option("--label", "labels", multiple=True, help="key=value, repeatable.")
def add(name: str, kubeconfig: Path, context: str | None, labels: tuple[str, ...]) -> None:
    """Probe the cluster, then register it; the kubeconfig is stored encrypted."""
    parsed = dict(label.split("=", 1) for label in labels)
    _show(_call("POST", "/clusters", {"name": name, "kubeconfig": kubeconfig.read_text(), "context": context,
                                      "labels": parsed}))


@cluster_group.command("list")
def list_clusters() -> None:
    """Clusters with reachability, version, nodes, architectures, GPUs and labels."""
    for c in _call("GET", "/clusters"):
        _show(c)


@cluster_group.command("label")
@click.argument("name")
@click.argument("labels", nargs=-1, required=True)
def label(name: str, labels: tuple[str, ...]) -> None:
    """Set labels (key=value) or remove them (key-)."""
    changes: dict[str, str | None] = {}
    for item in labels:
        if item.endswith("-") and "=" not in item:
            changes[item[:-1]] = None
        elif "=" in item:
            key, value = item.split("=", 1)
            changes[key] = value
        else:
            raise click.BadParameter(f"{item!r}: use key=value or key-")
    _show(_call("PATCH", f"/clusters/{name}/labels", {"labels": changes}))


@cluster_group.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Forget a cluster (releases in it are not touched)."""
    _call("DELETE", f"/clusters/{name}")
