"""``appmarket cluster ...``: register and label clusters on a running server."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import click

from appmarket.cli.client import api_call
from appmarket.errors import Invalid


def _call(method: str, path: str, json: Any = None) -> Any:
    return api_call(method, path, json, timeout=60)


def _show(c: dict[str, Any]) -> None:
    caps = c.get("capabilities") or {}
    state = "reachable" if caps.get("reachable") else f"unreachable ({caps.get('error', '')})"
    gpus = ", ".join(f"{k}={v}" for k, v in (caps.get("gpus") or {}).items()) or "no GPUs"
    labels = ",".join(f"{k}={v}" for k, v in sorted(c["labels"].items())) or "-"
    atomic = "atomic" if c.get("atomic_default") else "no-atomic"
    click.echo(f"{c['name']}\t{state}\t{caps.get('version', '?')}\t{caps.get('node_count', 0)} nodes\t"
               f"{'/'.join(caps.get('architectures') or [])}\t{gpus}\t{labels}\t{atomic}")


@click.group("cluster")
def cluster_group() -> None:
    """Registered Kubernetes clusters."""


@cluster_group.command("add")
@click.argument("name")
@click.option("--kubeconfig", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A kubeconfig file (or give --server and --token-file).")
@click.option("--context", default=None, help="Context to use (default: the current context).")
@click.option("--server", default=None, help="API server URL, with --token-file (and --ca-file).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM file of the CA that signed the API server's certificate.")
@click.option("--token-file", type=click.File("r"), default=None,
              help="File holding the bearer token; '-' reads it from standard input. Never on the command line.")
@click.option("--insecure-skip-tls-verify", is_flag=True, help="Do not verify the server certificate.")
@click.option("--atomic-default/--no-atomic-default", default=None,
              help="Roll back failed operations unless a request says otherwise (default on).")
@click.option("--label", "labels", multiple=True, help="key=value, repeatable.")
def add(name: str, kubeconfig: Path | None, context: str | None, server: str | None, ca_file: Path | None,
        token_file: IO[str] | None, insecure_skip_tls_verify: bool, atomic_default: bool | None,
        labels: tuple[str, ...]) -> None:
    """Probe the cluster, then register it; its credentials are stored encrypted."""
    body: dict[str, Any] = {"name": name, "labels": dict(label.split("=", 1) for label in labels)}
    if kubeconfig is not None:
        if server or token_file or ca_file:
            raise Invalid("give --kubeconfig, or --server with --token-file, not both")
        body.update(kubeconfig=kubeconfig.read_text(), context=context)
    elif server and token_file is not None:
        token = token_file.read().strip()
        if not token:
            raise Invalid("the token file is empty")
        body.update(server=server, token=token, insecure_skip_tls_verify=insecure_skip_tls_verify,
                    ca_cert=ca_file.read_text() if ca_file else None)
    else:
        raise Invalid("give --kubeconfig, or --server with --token-file")
    if atomic_default is not None:
        body["atomic_default"] = atomic_default
    _show(_call("POST", "/clusters", body))


@cluster_group.command("set")
@click.argument("name")
@click.option("--atomic-default/--no-atomic-default", default=None,
              help="Roll back failed operations unless a request says otherwise.")
def set_cluster(name: str, atomic_default: bool | None) -> None:
    """Change a registered cluster's settings."""
    if atomic_default is None:
        raise Invalid("nothing to change: give --atomic-default or --no-atomic-default")
    _show(_call("PATCH", f"/clusters/{name}", {"atomic_default": atomic_default}))


@cluster_group.command("probe")
@click.argument("name")
def probe(name: str) -> None:
    """Probe the cluster now and show what it reported (reachability, version, nodes, GPUs)."""
    _show(_call("POST", f"/clusters/{name}/probe"))


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
