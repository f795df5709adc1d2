"""``appmarket``: run the server and administer it; ``push`` talks to a running server."""

from __future__ import annotations

import sys
from typing import Any

import click

from appmarket.cli.addons import COMMANDS as ADDON_COMMANDS
from appmarket.cli.client import login_command, logout_command, push_command
from appmarket.cli.clusters import cluster_group
from appmarket.cli.operations import operations_group
from appmarket.cli.releases import COMMANDS as RELEASE_COMMANDS
from appmarket.errors import AppMarketError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from appmarket.settings import Settings, load_settings

# Exit codes per error class, so scripts can tell "not found" from "refused" from "broken".
EXIT_CODES: dict[type[AppMarketError], int] = {Invalid: 2, NotFound: 3, Conflict: 4, Unauthorized: 5,
                                              Forbidden: 5}


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings_factory"]()
    return settings


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AppMarketError as exc:
            click.echo(f"error: {exc.message}", err=True)
            code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), 1)
            sys.exit(code)


@click.group(cls=_Group)
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="TOML settings file.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """AppMarket: application marketplace, Helm chart repository and OCI registry."""
    ctx.ensure_object(dict)
    ctx.obj["settings_factory"] = lambda **kw: load_settings(config, **kw)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8080).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Start the service with its embedded defaults unless configured otherwise."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from appmarket.app import create_app  # noqa: PLC0415
    from appmarket.logs import configure_logging  # noqa: PLC0415
    from appmarket.services import bootstrap  # noqa: PLC0415

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings: Settings = ctx.obj["settings_factory"](**overrides)
    configure_logging(settings.log_format, settings.log_level)
    token = bootstrap(settings)
    if token:
        click.echo(f"Created admin account {settings.admin_username!r}. Its token is shown only once:\n\n"
                   f"    {token}\n\nReset it with: appmarket admin reset-token", err=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=10)


@main.group()
def admin() -> None:
    """Administration of accounts."""


@admin.command("reset-token")
@click.option("--username", default=None, help="Account to reset (default: the configured admin).")
@click.pass_context
def reset_token(ctx: click.Context, username: str | None) -> None:
    """Revoke the account's tokens and print a new one."""
    from appmarket.services import build_services, prepare_database  # noqa: PLC0415

    settings = _settings(ctx.find_root())
    prepare_database(settings)
    services = build_services(settings)
    try:
        services.auth.ensure_admin(settings.admin_username)
        click.echo(services.auth.reset_token(username or settings.admin_username))
    finally:
        services.close()


@main.group()
def storage() -> None:
    """Storage maintenance."""


@storage.command("check")
@click.pass_context
def storage_check(ctx: click.Context) -> None:
    """Write, read back and delete a probe object in the configured store."""
    import secrets  # noqa: PLC0415

    from appmarket.storage.factory import open_store  # noqa: PLC0415

    settings = _settings(ctx.find_root())
    store = open_store(settings)
    key = f"_check/{secrets.token_hex(8)}"
    payload = secrets.token_bytes(4096)
    try:
        store.put_bytes(key, payload)
        if store.get_bytes(key) != payload:
            raise click.ClickException("storage returned different bytes than were written")
        store.delete(key)
    finally:
        store.close()
    click.echo(f"storage ok ({store.name})")


@main.command("gc")
@click.option("--grace", type=float, default=None,
              help="Seconds an unreferenced blob is kept (default: the oci.gc_grace_seconds setting).")
@click.pass_context
def gc_command(ctx: click.Context, grace: float | None) -> None:
    """Delete blobs no manifest or chart references, and expired upload sessions."""
    from appmarket.services import build_services, prepare_database  # noqa: PLC0415

    settings = _settings(ctx.find_root())
    prepare_database(settings)
    services = build_services(settings)
    try:
        report = services.registry.gc(grace)
    finally:
        services.close()
    click.echo(f"deleted {report.blobs_deleted} blobs and {report.orphans_deleted} orphaned objects, "
               f"freed {report.bytes_freed} bytes, expired {report.uploads_expired} uploads "
               f"and swept {report.staged_deleted} staged ones")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations."""
    from appmarket.services import prepare_database  # noqa: PLC0415

    prepare_database(_settings(ctx.find_root()))
    click.echo("database is up to date")


@main.group()
def catalog() -> None:
    """The curated catalog."""


@catalog.command("publish")
@click.option("--dir", "catalog_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="Directory of curated charts (default: settings.catalog_dir, else the checkout's catalog/).")
@click.pass_context
def catalog_publish(ctx: click.Context, catalog_dir: str | None) -> None:
    """Package and publish changed curated charts into the public 'library' project."""
    from appmarket.catalog.publish import Publisher, default_catalog_dir  # noqa: PLC0415
    from appmarket.services import bootstrap, build_services  # noqa: PLC0415

    settings = _settings(ctx.find_root())
    bootstrap(settings)
    services = build_services(settings)
    try:
        report = Publisher(services.db, services.projects, services.charts).publish(
            default_catalog_dir(catalog_dir or settings.catalog_dir))
    finally:
        services.close()
    for c in report.charts:
        click.echo(f"{c.status:10} {c.name} {c.version}" + (f": {c.message}" if c.message else ""))
    click.echo(f"{len(report.charts)} charts in {report.seconds:.2f}s")
    if report.refused:
        raise Conflict("; ".join(c.message for c in report.refused))


main.add_command(push_command)
main.add_command(login_command)
main.add_command(logout_command)
main.add_command(cluster_group)
main.add_command(operations_group)
for _command in RELEASE_COMMANDS + ADDON_COMMANDS:
    main.add_command(_command)
