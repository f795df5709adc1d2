"""Administration and operations pages in process: users, tokens, robots, the operations list, and what a
non-admin may not do (403 on GET, and on a forged POST that even carries a valid CSRF token)."""

from __future__ import annotations

import base64
import re
from typing import Any

from litestar.testing import TestClient
from playwright.sync_api import Page, expect

from tests.support.app import LiveServer
from tests.support.browser import screenshot

Client = TestClient[Any]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def _login(client: Client, username: str, secret: str) -> str:
    """Sign in through the form; return a CSRF token of the new session."""
    r = client.post("/login", data={"username": username, "password": secret,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client.get("/ui/account").text)


def _api(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_manages_users_tokens_and_robots(client: Client, admin_token: str) -> None:
    h = _api(admin_token)
    assert client.post("/api/v1/projects", json={"name": "team"}, headers=h).status_code == 201
    robot = client.post("/api/v1/projects/team/robots", json={"name": "ci", "actions": ["pull"]}, headers=h)
    assert robot.status_code == 201, robot.text
    csrf = _login(client, "admin", admin_token)

    page = client.get("/ui/admin")
    assert page.status_code == 200
    assert 'data-user="admin"' in page.text
    assert 'data-robot="robot$team+ci"' in page.text or "robot$team+ci" in page.text
    assert ">pull<" in page.text
    assert "initial admin token" in page.text
    assert admin_token not in page.text  # secrets are never shown

    made = client.post("/ui/admin/users", data={"csrf_token": csrf, "username": "alice", "password": "alice-pass-1",
                                                "is_admin": "on"}, follow_redirects=False)
    assert made.status_code == 303
    listed = client.get(made.headers["location"]).text
    assert "Created user alice" in listed
    assert 'data-user="alice"' in listed
    users = client.get("/api/v1/users", headers=h).json()
    assert {"username": "alice", "is_admin": True} in [{k: u[k] for k in ("username", "is_admin")} for u in users]

    dup = client.post("/ui/admin/users", data={"csrf_token": csrf, "username": "alice", "password": "x" * 9})
    assert dup.status_code == 409
    assert "already exists" in dup.text
    short = client.post("/ui/admin/users", data={"csrf_token": csrf, "username": "bob", "password": "short"})
    assert short.status_code == 400
    assert "at least 8 characters" in short.text

    # alice's token appears in the admin list and is revoked from there.
    alice_token = client.post("/api/v1/users/me/tokens", json={"name": "laptop"},
                              headers={"Authorization": "Basic YWxpY2U6YWxpY2UtcGFzcy0x"}).json()
    assert "laptop" in client.get("/ui/admin").text
    revoked = client.post(f"/ui/admin/tokens/{alice_token['id']}/revoke", data={"csrf_token": csrf},
                          follow_redirects=False)
    assert revoked.status_code == 303
    assert client.get("/api/v1/users/me", headers=_api(alice_token["token"])).status_code == 401

    gone = client.post("/ui/admin/projects/team/robots/ci/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    assert client.get("/api/v1/projects/team/robots", headers=h).json() == []

    myself = client.post("/ui/admin/users/admin/delete", data={"csrf_token": csrf})
    assert myself.status_code == 409
    assert "your own account" in myself.text
    deleted = client.post("/ui/admin/users/alice/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert deleted.status_code == 303
    assert "alice" not in [u["username"] for u in client.get("/api/v1/users", headers=h).json()]


def test_non_admins_get_403_on_admin_and_operations_pages(client: Client, admin_token: str) -> None:
    h = _api(admin_token)
    assert client.post("/api/v1/users", json={"username": "viewer", "password": "viewer-pass"},
                       headers=h).status_code == 201
    assert client.post("/api/v1/users", json={"username": "target", "password": "target-pass"},
                       headers=h).status_code == 201
    anonymous = client.get("/ui/admin", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
    csrf = _login(client, "viewer", "viewer-pass")
    home = client.get("/").text
    assert "/ui/admin" not in home
    assert "/ui/operations" not in home
    assert client.get("/ui/admin").status_code == 403
    assert client.get("/ui/operations").status_code == 403
    assert client.get("/operations").status_code == 403
    # Valid CSRF token of the viewer's own session: refused for lack of rights, and nothing changed.
    for path, data in (("/ui/admin/users", {"username": "mallory", "password": "mallory-pass", "is_admin": "on"}),
                       ("/ui/admin/users/target/delete", {}), ("/ui/admin/tokens/1/revoke", {}),
                       ("/ui/admin/projects/x/robots/y/delete", {})):
        r = client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    names = [u["username"] for u in client.get("/api/v1/users", headers=h).json()]
    assert "mallory" not in names
    assert "target" in names
    assert client.get("/api/v1/users/me", headers=h).status_code == 200  # token 1 (the admin's) still works
    # The viewer revokes their own token from the account page; another user's token id is not theirs.
    own = client.post("/api/v1/users/me/tokens", json={"name": "mine"},
                      headers={"Authorization": "Basic dmlld2VyOnZpZXdlci1wYXNz"}).json()
    assert client.post("/ui/account/tokens/1/revoke", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/ui/account/tokens/{own['id']}/revoke", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert client.get("/api/v1/users/me", headers=_api(own["token"])).status_code == 401


def test_deleted_user_loses_the_browser_session_at_once(client: Client, admin_token: str) -> None:
    h = _api(admin_token)
    client.post("/api/v1/users", json={"username": "temp", "password": "temp-pass-1"}, headers=h)
    _login(client, "temp", "temp-pass-1")
    assert "temp" in client.get("/ui/account").text
    temp_session = client.cookies.get("appmarket_session")
    assert temp_session
    client.cookies.clear()
    csrf = _login(client, "admin", admin_token)
    r = client.post("/ui/admin/users/temp/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    client.cookies.set("appmarket_session", temp_session)
    after = client.get("/ui/account", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


def test_operations_page_lists_and_filters(client: Client, admin_token: str) -> None:
    _login(client, "admin", admin_token)
    empty = client.get("/ui/operations")
    assert empty.status_code == 200
    assert "No operations yet" in empty.text
    assert client.get("/operations").status_code == 200
    assert "No operation matches" in client.get("/ui/operations?state=failed").text
    assert client.get("/ui/operations?state=bogus").status_code == 400


def test_admin_page_in_the_browser(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", live_server.token)
    page.click("button[type=submit]")
    page.click("nav >> text=Admin")
    expect(page.locator("h1")).to_have_text("Administration")
    form = page.locator("#create-user")
    form.locator("input[name=username]").fill("carol")
    form.locator("input[name=password]").fill("carol-pass-1")
    form.locator("button[type=submit]").click()
    expect(page.get_by_role("status")).to_contain_text("Created user carol")
    expect(page.locator('tr[data-user="carol"]')).to_contain_text("user")
    screenshot(page, "admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "admin-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("text=Sign out")
    page.goto(live_server.url + "/login")
    page.fill("#username", "carol")
    page.fill("#password", "carol-pass-1")
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_have_text("carol")
    expect(page.locator("nav >> text=Admin")).to_have_count(0)
    expect(page.locator("nav >> text=Operations")).to_have_count(0)
    response = page.goto(live_server.url + "/ui/admin")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")


def test_users_api_delete_ends_password_access_at_once(client: Client, admin_token: str) -> None:
    h = _api(admin_token)
    assert client.post("/api/v1/users", json={"username": "gone", "password": "gone-pass-1"},
                       headers=h).status_code == 201
    basic = {"Authorization": "Basic " + base64.b64encode(b"gone:gone-pass-1").decode()}
    assert client.get("/api/v1/users/me", headers=basic).status_code == 200  # now cached as verified
    assert client.delete("/api/v1/users/gone", headers=basic).status_code == 403  # not an admin
    assert client.delete("/api/v1/users/gone", headers=h).status_code == 204
    assert client.get("/api/v1/users/me", headers=basic).status_code == 401
    missing = client.delete("/api/v1/users/gone", headers=h)
    assert missing.status_code == 404 and "gone" in missing.json()["detail"]
