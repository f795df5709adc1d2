"""CLI commands that talk to a running server (``APPMARKET_URL``, ``APPMARKET_TOKEN``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
from click._termui_impl import ProgressBar

DEFAULT_URL = "http://127.0.0.1:8080"


def server_url() -> str:
    return os.environ.get("APPMARKET_URL", DEFAULT_URL).rstrip("/")


def auth_headers() -> dict[str, str]:
    token = os.environ.get("APPMARKET_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def server_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip() or resp.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("detail") or body)
    return str(body)


def _chunks(path: Path, bar: ProgressBar[int] | None) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(64 * 1024):
            if bar is not None:
                bar.update(len(chunk))
            yield chunk


@click.command("push")
@click.argument("chart", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "-p", required=True, help="Project (repository) to push into.")
@click.option("--force", is_flag=True, help="Overwrite an existing version (needs the overwrite right).")
def push_command(chart: Path, project: str, force: bool) -> None:
    """Upload a packaged chart (.tgz) through the ChartMuseum API."""
    url = f"{server_url()}/api/{project}/charts" + ("?force=true" if force else "")
    size = chart.stat().st_size
    headers = {**auth_headers(), "Content-Type": "application/octet-stream", "Content-Length": str(size)}
    show = sys.stderr.isatty()
    try:
        if show:
            with click.progressbar(length=size, label=f"pushing {chart.name}", file=sys.stderr) as bar:
                resp = httpx.post(url, content=_chunks(chart, bar), headers=headers, timeout=120)
        else:
            resp = httpx.post(url, content=_chunks(chart, None), headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {server_url()}: {exc}") from exc
    if resp.status_code >= 400:
        click.echo(f"error: {resp.status_code} {server_message(resp)}", err=True)
        sys.exit(1)
    if show:
        click.echo(f"pushed {chart.name} to {project}", err=True)
