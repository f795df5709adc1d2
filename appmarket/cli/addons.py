"""``appmarket addon ...`` and ``appmarket rollout ...``: addons and their rollouts on a running server.

``rollout status --watch`` follows the rollout's event stream (SSE) and redraws the waves on a terminal
(prints events otherwise) until the rollout is final: exit 0 when it succeeded, 1 when it succeeded with
failures (clusters failed within the budget), was aborted or superseded (2 invalid input, 3 not found,
4 conflict, 5 not allowed, as everywhere).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx
import yaml

from appmarket.addons.documents import spec_yaml
from appmarket.cli.client import api_call, auth_headers, server_url
from appmarket.errors import Invalid

FINAL = ("succeeded", "succeeded-with-failures", "aborted", "superseded")


def _call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
    return api_call(method, path, body, params, timeout=120)


def _name(name: str) -> str:
    return quote(name, safe="")


def read_addon_file(path: Path) -> dict[str, Any]:
    """The addon file as a mapping; the server checks fields and types (and names what is wrong)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise Invalid(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise Invalid(f"{path}: an addon file is a YAML mapping (name, chart, version, ...)")
    return doc



def _addon_line(a: dict[str, Any]) -> str:
    rollout = a.get("rollout") or {}
    state = f"{rollout['state']} (#{rollout['id']})" if rollout else "-"
    deleting = "  deleting" if a.get("deleting") else ""
    return (f"{a['name']}\t{a['spec']['chart']}\t{a['spec']['version']}\t{len(a['targets'])} targets\t"
            f"rollout {state}\t{len(a['drift'])} drifted{deleting}")


@click.group("addon")
def addon_group() -> None:
    """Addons: one chart kept at a desired version on every matching cluster."""


@addon_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def apply(file: Path) -> None:
    """Create or update the addon FILE describes; a new version or new values start a rollout."""
    a = _call("POST", "/addons", read_addon_file(file))
    click.echo(_addon_line(a))
    rollout = a.get("rollout")
    if rollout and rollout["state"] not in FINAL:
        click.echo(f"rollout {rollout['id']} {rollout['state']}: follow it with "
                   f"`appmarket rollout status {a['name']} --watch`", err=True)


@addon_group.command("list")
def list_addons() -> None:
    """Addons with chart, version, targets, latest rollout and drift."""
    for a in _call("GET", "/addons"):
        click.echo(_addon_line(a))


@addon_group.command("show")
@click.argument("name")
def show(name: str) -> None:
    """The addon's spec (YAML), its target clusters and drift."""
    a = _call("GET", f"/addons/{_name(name)}")
    click.echo(f"# {_addon_line(a)}")
    click.echo(f"# generation {a['generation']}, applied by {a['created_by']} at {a['updated_at'][:19]}")
    click.echo(f"# targets: {', '.join(a['targets']) or '(none)'}")
    if a.get("drift_status", "checked") != "checked":
        click.echo(f"# drift: {a['drift_status']}")
    for d in a["drift"]:
        click.echo(f"# drift: {d['cluster']} {d['kind']}: {d['detail']}")
    click.echo(spec_yaml(a["spec"]), nl=False)


@addon_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: uninstall the addon from every target cluster.")
def delete(name: str, yes: bool) -> None:
    """Uninstall the addon from every target, then remove it."""
    if not yes:
        raise Invalid(f"deleting {name} uninstalls it from every target cluster: add --yes to confirm")
    a = _call("DELETE", f"/addons/{_name(name)}", params={"confirm": name})
    click.echo(f"{a['name']}: deleting, uninstalling from {len(a['targets'])} cluster(s)")


@addon_group.command("drift")
@click.argument("name")
@click.option("--check", is_flag=True, help="Run the drift check now instead of showing the last one.")
def drift(name: str, check: bool) -> None:
    """Targets whose release differs from the desired state (missing, version, chart, values)."""
    report = _call("POST" if check else "GET", f"/addons/{_name(name)}/drift")
    found = report["drift"]
    if report["status"] != "checked":  # e.g. "rollout in progress": what follows is the last check's result
        where = f" (rollout {report['rollout']})" if report.get("rollout") else ""
        click.echo(f"{name}: {report['status']}{where}; no check runs until it has ended", err=True)
    if not found:
        click.echo(f"{name}: no drift")
        return
    for d in found:
        click.echo(f"{d['cluster']}\t{d['kind']}\t{d['detail']}\t{d['checked_at'][:19]}")
    sys.exit(1)


HEADER = ("CLUSTER", "STATE", "ACTION", "REVISION", "OPERATION", "HEALTH")


def _target_row(t: dict[str, Any]) -> tuple[str, ...]:
    rev = "" if t["revision"] is None else str(t["revision"])
    if t["previous_revision"] is not None:
        rev += f" (was {t['previous_revision']})"
    op = "" if t["operation_id"] is None else str(t["operation_id"])
    if t.get("rollback_operation_id"):
        op += f" rollback {t['rollback_operation_id']}"
    return (t["cluster"], t["state"], t["action"], rev, op, t["health"] or t["message"] or "")


def render_rollout(r: dict[str, Any]) -> str:
    """Waves and clusters as aligned columns: state, action, revision, operation and health reason."""
    count = len(r["waves"])
    where = f"wave {r['current_wave'] + 1}/{count}" if r["current_wave"] < count else f"{count} wave(s)"
    failed = f"  {r['failed_clusters']} failed cluster(s)" if r.get("failed_clusters") else ""
    lines = [f"{r.get('kind', 'rollout')} {r['id']}  {r['addon']}  {r['chart']} {r['version']}  "
             f"generation {r['generation']}  state {r['state']}  {where}{failed}"]
    if r.get("message"):
        lines.append(f"  {r['message']}")
    rows = {id(t): _target_row(t) for w in r["waves"] for t in w["targets"]}
    widths = [max(len(row[i]) for row in [HEADER, *rows.values()]) for i in range(len(HEADER) - 1)]

    def line(row: tuple[str, ...]) -> str:
        return ("    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]).rstrip()

    lines.append(line(HEADER))
    for w in r["waves"]:
        title = f"wave {w['index'] + 1}" + (f" ({w['name']})" if w.get("name") else "")
        extra = f"  not before {w['not_before'][:19]}" if w.get("not_before") and w["state"] not in (
            "succeeded", "failed", "skipped", "aborted") else ""
        lines.append(f"  {title}: {w['state']}  failures {w['failures']}/{w['failure_budget']}{extra}")
        lines.extend(line(rows[id(t)]) for t in w["targets"])
    return "\n".join(lines)


def _events(rollout_id: int) -> Any:
    """Events of the rollout's SSE stream as dicts (``id`` is None for progress notes) until it ends."""
    url = f"{server_url()}/api/v1/rollouts/{rollout_id}/events"
    try:
        with httpx.stream("GET", url, headers=auth_headers(), timeout=httpx.Timeout(30, read=None)) as resp:
            if resp.status_code >= 400:
                _call("GET", f"/rollouts/{rollout_id}")  # raises the server's refusal as a domain error
            event_id: str | None = None
            for line in resp.iter_lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    yield {**data, "_id": event_id} if event_id else {**data, "_id": None}
                    event_id = None
                elif not line:
                    event_id = None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"lost the event stream: {exc}") from exc


def _recent(r: dict[str, Any], count: int = 5) -> str:
    return "\n".join(f"  {e['at'][11:19]}  {e['who']}  {e['action']}: {e['message']}"
                     for e in (r.get("events") or [])[-count:])


def watch(rollout: dict[str, Any]) -> dict[str, Any]:
    """Follow the rollout live until it is final; on a terminal redraw the waves (and the latest events)
    at each progress note, otherwise print each event once. Returns the rollout as it ended."""
    tty = sys.stdout.isatty()
    path = f"/rollouts/{rollout['id']}"
    for event in _events(rollout["id"]):
        if tty and event["_id"] is None:
            shown = _call("GET", path)
            click.clear()
            click.echo(render_rollout(shown))
            click.echo(f"\nlatest events:\n{_recent(shown)}\n(following; Ctrl-C stops watching, the rollout goes on)")
        elif not tty and event["_id"] is not None:
            click.echo(f"{event['at'][11:19]}  {event['who']}  {event['action']}: {event['message']}")
    if tty:
        click.clear()
    return dict(_call("GET", path))


@click.group("rollout")
def rollout_group() -> None:
    """Rollouts of addons: status, and the actions a person takes on a running one."""


@rollout_group.command("status")
@click.argument("name")
@click.option("--watch", "follow", is_flag=True, help="Follow the rollout live until it is final.")
def status(name: str, follow: bool) -> None:
    """Waves, clusters, state, health reason, revision and operation of the addon's latest rollout."""
    r = _call("GET", f"/addons/{_name(name)}/rollout")
    if follow and r["state"] not in FINAL:
        r = watch(r)
    click.echo(render_rollout(r))
    if follow and r["state"] != "succeeded":  # succeeded-with-failures too: some clusters did not get it
        click.echo(f"error: rollout {r['id']} {r['state']}", err=True)
        sys.exit(1)


def _act(name: str, action: str, clusters: tuple[str, ...] = ()) -> None:
    r = _call("POST", f"/addons/{_name(name)}/rollout/{action}", {"clusters": list(clusters)})
    click.echo(f"rollout {r['id']} of {r['addon']}: {r['state']}" + (f" ({r['message']})" if r["message"] else ""))


@rollout_group.command("pause")
@click.argument("name")
def pause(name: str) -> None:
    """Start no new cluster (those in flight finish)."""
    _act(name, "pause")


@rollout_group.command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """Go on after a pause, or retry the failed clusters of a halted wave."""
    _act(name, "resume")


@rollout_group.command("abort")
@click.argument("name")
def abort(name: str) -> None:
    """Stop and roll back every cluster this rollout changed."""
    _act(name, "abort")


@rollout_group.command("approve")
@click.argument("name")
def approve(name: str) -> None:
    """Let the wave waiting for approval start."""
    _act(name, "approve")


@rollout_group.command("skip")
@click.argument("name")
@click.argument("clusters", nargs=-1, required=True)
def skip(name: str, clusters: tuple[str, ...]) -> None:
    """Leave CLUSTERS out of the rollout (a halted wave can then go on)."""
    _act(name, "skip", clusters)


@rollout_group.command("history")
@click.argument("name")
def history(name: str) -> None:
    """The addon's rollouts, newest first."""
    for r in _call("GET", f"/addons/{_name(name)}/rollouts"):
        click.echo(f"{r['id']}\t{r.get('kind', 'rollout')}\tgeneration {r['generation']}\t{r['chart']} "
                   f"{r['version']}\t{r['state']}\t{r['created_by']}\t{r['created_at'][:19]}")


COMMANDS = [addon_group, rollout_group]
