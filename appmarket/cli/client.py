"""CLI commands that talk to a running server.

The server and token come from ``APPMARKET_URL`` / ``APPMARKET_TOKEN``, or else from the login file that
``appmarket login`` writes (``$XDG_CONFIG_HOME/appmarket/login.json``, mode 0600).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
from click._termui_impl import ProgressBar

from appmarket.errors import AppMarketError, Conflict, Forbidden, Invalid, NotFound, Unauthorized

DEFAULT_URL = "http://127.0.0.1:8080"


def login_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "appmarket" / "login.json"


def _saved() -> dict[str, str]:
    try:
        data = json.loads(login_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def server_url() -> str:
    return (os.environ.get("APPMARKET_URL") or _saved().get("url") or DEFAULT_URL).rstrip("/")


def auth_headers() -> dict[str, str]:
    token = os.environ.get("APPMARKET_TOKEN") or _saved().get("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


# Status codes of the management API as the domain errors the CLI maps to exit codes.
_ERRORS: dict[int, type[AppMarketError]] = {400: Invalid, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                            409: Conflict}


def api_call(method: str, path: str, body: Any = None, params: dict[str, str] | None = None,
             timeout: float = 600) -> Any:
    """One management-API request; refusals become domain errors carrying the server's message."""
    try:
        resp = httpx.request(method, f"{server_url()}/api/v1{path}", json=body, params=params,
                             headers=auth_headers(), timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {server_url()}: {exc}") from exc
    if resp.status_code >= 400:
        message = server_message(resp)
        try:
            for item in resp.json().get("errors") or []:
                message += f"\n  - {item.get('field') or item.get('check')}: {item.get('message')}"
        except (ValueError, AttributeError):
            pass
        raise _ERRORS.get(resp.status_code, AppMarketError)(message)
    if resp.headers.get("content-type", "").startswith("text/plain"):
        return resp.text
    return resp.json() if resp.content else None


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


@click.command("login")
@click.option("--url", default=None, help=f"Server URL (default: APPMARKET_URL or {DEFAULT_URL}).")
@click.option("--token", prompt=True, hide_input=True, help="An API token (created in the web UI or the API).")
def login_command(url: str | None, token: str) -> None:
    """Check a token against the server and remember both for later commands."""
    target = (url or os.environ.get("APPMARKET_URL") or DEFAULT_URL).rstrip("/")
    try:
        resp = httpx.get(f"{target}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {target}: {exc}") from exc
    if resp.status_code != 200:
        raise Unauthorized(f"the server refused the token: {server_message(resp)}")
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": target, "token": token}, fh)
    click.echo(f"logged in to {target} as {resp.json()['username']}")


@click.command("logout")
def logout_command() -> None:
    """Forget the saved server and token."""
    login_file().unlink(missing_ok=True)
