"""``appmarket operations [list|show ID|cancel ID]``: the installer's operations on a running server."""

from __future__ import annotations

from typing import Any

import click

from appmarket.cli.client import api_call


def _line(op: dict[str, Any]) -> str:
    return (f"{op['id']}\t{op['kind']}\t{op['state']}\t{op['cluster']}/{op['namespace']}/{op['release']}\t"
            f"{op['requested_by']}\t{op['created_at'][:19]}\t{op['message']}")


@click.group("operations", invoke_without_command=True)
@click.pass_context
def operations_group(ctx: click.Context) -> None:
    """Queued, running and finished operations (install, upgrade, rollback, ...); lists them by default."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_operations)


@operations_group.command("list")
@click.option("--cluster", default=None)
@click.option("--namespace", default=None)
@click.option("--release", default=None)
@click.option("--state", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"]), default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def list_operations(cluster: str | None = None, namespace: str | None = None, release: str | None = None,
                    state: str | None = None, limit: int = 50) -> None:
    """Newest first."""
    params = {k: v for k, v in (("cluster", cluster), ("namespace", namespace), ("release", release),
                                ("state", state), ("limit", str(limit))) if v}
    click.echo("ID\tKIND\tSTATE\tRELEASE\tBY\tCREATED\tMESSAGE")
    for op in api_call("GET", "/operations", params=params):
        click.echo(_line(op))


@operations_group.command("show")
@click.argument("op_id", type=int)
def show(op_id: int) -> None:
    """One operation: parameters, audit, events and helm's output."""
    op = api_call("GET", f"/operations/{op_id}")
    click.echo(_line(op))
    what = op["audit"].get("what") or {}
    for key in ("chart", "version", "revision", "rollback_to"):
        if what.get(key) is not None:
            click.echo(f"  {key}: {what[key]}")
    click.echo(f"  revisions: {op['revision_before']} -> {op['revision_after'] if op['revision_after'] else '-'}")
    for e in op["events"] or []:
        click.echo(f"  {e['at'][11:19]}  {e['kind']:<10} {e['message']}")
    if op.get("helm_output"):
        click.echo(op["helm_output"].rstrip())


@operations_group.command("cancel")
@click.argument("op_id", type=int)
def cancel(op_id: int) -> None:
    """Drop a queued operation, or stop the helm of a running one."""
    op = api_call("POST", f"/operations/{op_id}/cancel")
    click.echo(f"operation {op_id}: {op['state']}" + (" (stopping helm)" if op["state"] == "running" else ""))
