"""``appmarket install|upgrade|status|history|rollback|uninstall|recover``: releases on a running server.

A release is named ``CLUSTER/NAMESPACE/RELEASE``. Changes are queued as operations on the server; the
command follows the operation's event stream (SSE) and prints progress, then exits 0 if it succeeded
and 1 if it failed (2 invalid input, 3 not found, 4 conflict, 5 not allowed, as everywhere).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from appmarket.cli.client import api_call, auth_headers, server_url
from appmarket.errors import Invalid
from appmarket.installer.preflight import coalesce


def _call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
    return api_call(method, path, body, params)


def _path(target: str) -> str:
    parts = target.split("/")
    if len(parts) != 3 or not all(parts):
        raise Invalid(f"{target!r}: name a release as CLUSTER/NAMESPACE/RELEASE")
    cluster, namespace, name = parts
    return f"/clusters/{cluster}/namespaces/{namespace}/releases/{name}"


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """``a.b=1`` pairs as nested values; the right side is read as YAML (numbers, booleans, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise Invalid(f"--set {item!r}: use key=value")
        value = yaml.safe_load(raw) if raw else ""
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _values(files: tuple[Path, ...], sets: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in files:
        doc = yaml.safe_load(f.read_text()) or {}
        if not isinstance(doc, dict):
            raise Invalid(f"{f}: values must be a mapping")
        values = coalesce(values, doc)
    return coalesce(values, parse_set(sets)) if sets else values


def follow(op: dict[str, Any]) -> None:
    """Print the operation's events as they happen; exit 1 if it failed."""
    url = f"{server_url()}/api/v1/operations/{op['id']}/events"
    click.echo(f"operation {op['id']}: {op['kind']} {op['cluster']}/{op['namespace']}/{op['release']}", err=True)
    final = op["state"]
    try:
        with httpx.stream("GET", url, headers=auth_headers(), timeout=httpx.Timeout(30, read=None)) as resp:
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                click.echo(f"  {event['at'][11:19]}  {event['kind']:<10} {event['message']}", err=True)
                final = event["kind"]
    except httpx.HTTPError as exc:
        raise click.ClickException(f"lost the event stream: {exc}") from exc
    done = _call("GET", f"/operations/{op['id']}")
    if done["state"] != "succeeded":
        if done.get("helm_output"):
            click.echo(done["helm_output"].rstrip(), err=True)
        click.echo(f"error: operation {op['id']} {done['state']}: {done['message']}", err=True)
        sys.exit(1)
    click.echo(f"{final}: {done['message']}")


def _change(method: str, target: str, body: dict[str, Any], diff: bool, dry_run: bool, follow_it: bool,
            conflict: str) -> None:
    params = {"conflict": conflict}
    if diff or dry_run:
        rendered = _call(method, _path(target), {**body, "diff": diff, "dry_run": True}, params)
        for warning in rendered["warnings"]:
            click.echo(f"warning: {warning}", err=True)
        click.echo(rendered["diff"] if diff else rendered["manifest"], nl=False)
        if dry_run:
            return
    op = _call(method, _path(target), body, params)
    for warning in op["audit"].get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if follow_it:
        follow(op)
    else:
        click.echo(f"operation {op['id']} queued")


def _change_options(f: Any) -> Any:
    for option in reversed([
        click.option("--version", default=None, help="Chart version (default: newest, or the deployed one)."),
        click.option("--repo", default=None, help="External Helm repository URL (CHART is a chart name in it)."),
        click.option("-f", "--values", "files", multiple=True, type=click.Path(exists=True, path_type=Path),
                     help="Values file (YAML), repeatable."),
        click.option("--set", "sets", multiple=True, help="key.path=value, repeatable."),
        click.option("--wait/--no-wait", default=True, help="Wait for workloads to be ready (default on)."),
        click.option("--atomic/--no-atomic", default=None, help="Roll back on failure (default: cluster's)."),
        click.option("--timeout", type=int, default=None, help="helm timeout in seconds."),
        click.option("--dry-run", is_flag=True, help="Render and print the manifest; change nothing."),
        click.option("--diff", is_flag=True, help="Show the diff against the deployed manifest first."),
        click.option("--override-fit", is_flag=True, help="Install despite architecture/GPU misfit (audited)."),
        click.option("--refuse-if-busy", is_flag=True, help="Fail (exit 4) instead of queueing behind another."),
        click.option("--no-follow", is_flag=True, help="Return once queued."),
    ]):
        f = option(f)
    return f


def _body(chart: str | None, version: str | None, repo: str | None, files: tuple[Path, ...],
          sets: tuple[str, ...], wait: bool, atomic: bool | None, timeout: int | None,
          override_fit: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"chart": chart, "version": version, "repo": repo, "values": _values(files, sets),
                            "wait": wait, "timeout": timeout, "override_fit": override_fit}
    if atomic is not None:
        body["atomic"] = atomic
    return body


@click.command("install")
@click.argument("target")
@click.argument("chart")
@_change_options
def install(target: str, chart: str, version: str | None, repo: str | None, files: tuple[Path, ...],
            sets: tuple[str, ...], wait: bool, atomic: bool | None, timeout: int | None, dry_run: bool, diff: bool,
            override_fit: bool, refuse_if_busy: bool, no_follow: bool) -> None:
    """Install CHART (PROJECT/CHART in AppMarket, a name with --repo, or oci://...) as CLUSTER/NS/RELEASE."""
    body = _body(chart, version, repo, files, sets, wait, atomic, timeout, override_fit)
    _change("POST", target, body, diff, dry_run, not no_follow, "refuse" if refuse_if_busy else "queue")


@click.command("upgrade")
@click.argument("target")
@click.argument("chart", required=False)
@_change_options
@click.option("--reset-values", is_flag=True, help="Start from the chart's defaults instead of the deployed values.")
def upgrade(target: str, chart: str | None, version: str | None, repo: str | None, files: tuple[Path, ...],
            sets: tuple[str, ...], wait: bool, atomic: bool | None, timeout: int | None, dry_run: bool, diff: bool,
            override_fit: bool, refuse_if_busy: bool, no_follow: bool, reset_values: bool) -> None:
    """Upgrade a release (new chart version and/or values); values merge over the deployed ones."""
    body = _body(chart, version, repo, files, sets, wait, atomic, timeout, override_fit)
    body["reset_values"] = reset_values
    _change("PATCH", target, body, diff, dry_run, not no_follow, "refuse" if refuse_if_busy else "queue")


@click.command("rollback")
@click.argument("target")
@click.argument("revision", type=int, required=False)
@click.option("--no-follow", is_flag=True, help="Return once queued.")
def rollback(target: str, revision: int | None, no_follow: bool) -> None:
    """Roll a release back to REVISION (default: the previous one)."""
    op = _call("POST", f"{_path(target)}/rollback", {"revision": revision})
    follow(op) if not no_follow else click.echo(f"operation {op['id']} queued")


@click.command("uninstall")
@click.argument("target")
@click.option("--no-follow", is_flag=True, help="Return once queued.")
def uninstall(target: str, no_follow: bool) -> None:
    """Uninstall a release."""
    op = _call("DELETE", _path(target))
    follow(op) if not no_follow else click.echo(f"operation {op['id']} queued")


@click.command("recover")
@click.argument("target")
@click.option("--action", type=click.Choice(["rollback", "mark-failed"]), default="rollback", show_default=True)
def recover(target: str, action: str) -> None:
    """Unstick a release a dead helm left pending-install/upgrade/rollback (audited)."""
    follow(_call("POST", f"{_path(target)}/recover", {"action": action}))


@click.command("status")
@click.argument("target")
def status(target: str) -> None:
    """The release's chart, revision and status as helm reports it."""
    r = _call("GET", _path(target))
    click.echo(f"{r['cluster']}/{r['namespace']}/{r['name']}\t{r['chart']} {r['version']}\trevision {r['revision']}"
               f"\t{r['status']}{'  (stuck: run appmarket recover)' if r['stuck'] else ''}\t{r['description']}")


@click.command("history")
@click.argument("target")
def history(target: str) -> None:
    """Revisions of a release, oldest first."""
    click.echo("REVISION\tUPDATED\tSTATUS\tCHART\tDESCRIPTION")
    for h in _call("GET", f"{_path(target)}/history"):
        click.echo(f"{h['revision']}\t{h['updated'][:19]}\t{h['status']}\t{h['chart']}\t{h.get('description', '')}")


def _row(r: dict[str, Any]) -> str:
    stuck = "  (stuck: run appmarket recover)" if r["stuck"] else ""
    busy = f"  (operation {r['active_operation_id']} active)" if r.get("active_operation_id") else ""
    return f"{r['cluster']}/{r['namespace']}/{r['name']}\t{r['chart']} {r['version']}\t{r['revision']}\t" \
           f"{r['status']}{stuck}{busy}"


@click.command("releases")
@click.argument("where", required=False)
def releases(where: str | None) -> None:
    """Releases AppMarket knows, in every cluster, one CLUSTER, or one CLUSTER/NAMESPACE."""
    parts = where.split("/") if where else []
    if len(parts) > 2 or not all(parts):
        raise Invalid(f"{where!r}: give CLUSTER or CLUSTER/NAMESPACE")
    if len(parts) == 2:
        found = _call("GET", f"/clusters/{parts[0]}/namespaces/{parts[1]}/releases")
    else:
        clusters = parts or [c["name"] for c in _call("GET", "/clusters")]
        found = [r for c in clusters for r in _call("GET", f"/clusters/{c}/releases")]
    click.echo("RELEASE\tCHART\tREVISION\tSTATUS")
    for r in found:
        click.echo(_row(r))


_REVISION = click.option("--revision", type=int, default=None, help="A revision (default: the latest).")


def _revision(revision: int | None) -> dict[str, str] | None:
    return None if revision is None else {"revision": str(revision)}


@click.command("values")
@click.argument("target")
@_REVISION
@click.option("--all", "computed", is_flag=True, help="With the chart's defaults (what was rendered).")
def values(target: str, revision: int | None, computed: bool) -> None:
    """The user-supplied values helm recorded for a release, as YAML."""
    params = {**(_revision(revision) or {}), **({"computed": "true"} if computed else {})}
    click.echo(yaml.safe_dump(_call("GET", f"{_path(target)}/values", params=params), sort_keys=False), nl=False)


@click.command("manifest")
@click.argument("target")
@_REVISION
def manifest(target: str, revision: int | None) -> None:
    """The rendered manifest helm recorded for a release."""
    click.echo(_call("GET", f"{_path(target)}/manifest", params=_revision(revision)), nl=False)


@click.command("notes")
@click.argument("target")
@_REVISION
def notes(target: str, revision: int | None) -> None:
    """The chart's NOTES for a release, as rendered."""
    click.echo(_call("GET", f"{_path(target)}/notes", params=_revision(revision)), nl=False)


COMMANDS = [install, upgrade, rollback, uninstall, recover, status, history, releases, values, manifest, notes]
