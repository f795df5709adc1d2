"""Web pages in process: catalog, app detail, sign-in with CSRF, error pages."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from tests.support.charts import make_chart_tgz

Client = TestClient[Any]


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def _seed(client: Client, token: str) -> None:
    h = {"Authorization": f"Bearer {token}"}
    client.post("/api/v1/projects", json={"name": "pub", "visibility": "public"}, headers=h)
    client.post("/api/v1/projects", json={"name": "secret", "visibility": "private"}, headers=h)
    readme = "# Kafka\n\n<script>alert(1)</script>\n\nStreams **events**."
    client.post("/api/pub/charts", content=make_chart_tgz(name="kafka", version="1.2.0",
                                                         files={"README.md": readme}), headers=h)
    client.post("/api/secret/charts", content=make_chart_tgz(name="hidden", version="0.1.0"), headers=h)


def _login(client: Client, token: str) -> None:
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": token, "csrf_token": _csrf(page.text),
                                     "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"


def test_catalog_and_detail_pages(client: Client, admin_token: str) -> None:
    _seed(client, admin_token)
    page = client.get("/")
    assert page.status_code == 200
    assert "kafka" in page.text
    assert "hidden" not in page.text  # private project: anonymous does not see it
    assert "Sign in" in page.text
    partial = client.get("/?q=kaf", headers={"HX-Request": "true"})
    assert "<html" not in partial.text
    assert "kafka" in partial.text
    assert "No apps found" in client.get("/?q=zzzz-nothing").text

    detail = client.get("/ui/apps/pub/kafka")
    assert detail.status_code == 200
    assert "<strong>events</strong>" in detail.text
    assert "<script>alert(1)</script>" not in detail.text
    assert "helm repo add" in detail.text
    assert client.get("/ui/apps/pub/nope").status_code == 404
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/vendor/htmx.min.js").status_code == 200


def test_sign_in_shows_private_apps_and_csrf_is_enforced(client: Client, admin_token: str) -> None:
    _seed(client, admin_token)
    page = client.get("/login")
    forged = client.post("/login", data={"username": "admin", "password": admin_token, "csrf_token": "forged"},
                         follow_redirects=False)
    assert forged.status_code == 403
    wrong = client.post("/login", data={"username": "admin", "password": "nope", "csrf_token": _csrf(page.text)})
    assert wrong.status_code == 401
    assert "Wrong username" in wrong.text
    _login(client, admin_token)
    home = client.get("/")
    assert "hidden" in home.text
    assert "admin (admin)" in home.text
    out = client.post("/logout", data={"csrf_token": _csrf(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert "hidden" not in client.get("/").text


def test_open_redirect_is_refused(client: Client, admin_token: str) -> None:
    page = client.get("/login")
    r = client.post("/login", data={"username": "admin", "password": admin_token, "csrf_token": _csrf(page.text),
                                    "next": "//evil.example.com/"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_repository_pages_and_browser_upload(client: Client, admin_token: str) -> None:
    _seed(client, admin_token)
    listing = client.get("/ui/repositories")
    assert "pub" in listing.text
    assert "secret" not in listing.text
    repo = client.get("/ui/repositories/pub")
    assert "helm repo add pub" in repo.text
    assert "kafka" in repo.text
    assert "Upload a chart" not in repo.text  # anonymous: no upload form
    form = {"csrf_token": _csrf(client.get("/login").text)}
    tgz = make_chart_tgz(name="webup", version="0.3.0")
    forged = client.post("/ui/repositories/pub/charts", data=form, files={"chart": ("w.tgz", tgz)},
                         follow_redirects=False)
    assert forged.status_code in (303, 401, 403)
    assert client.get("/api/pub/charts/webup").status_code == 404
    _login(client, admin_token)
    repo = client.get("/ui/repositories/pub")
    assert "Upload a chart" in repo.text
    no_csrf = client.post("/ui/repositories/pub/charts", files={"chart": ("w.tgz", tgz)}, follow_redirects=False)
    assert no_csrf.status_code == 403
    ok = client.post("/ui/repositories/pub/charts", data={"csrf_token": _csrf(repo.text)},
                     files={"chart": ("w.tgz", tgz)}, follow_redirects=False)
    assert ok.status_code == 303
    assert "Uploaded" in client.get(ok.headers["location"]).text
    assert client.get("/api/pub/charts/webup").status_code == 200
    bad = client.post("/ui/repositories/pub/charts", data={"csrf_token": _csrf(repo.text)},
                      files={"chart": ("x.tgz", b"junk")}, follow_redirects=False)
    assert "Refused" in client.get(bad.headers["location"]).text


def test_clusters_and_account_pages_need_sign_in(client: Client, admin_token: str) -> None:
    r = client.get("/ui/clusters", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/ui/clusters")
    _login(client, admin_token)
    page = client.get("/ui/clusters")
    assert "No cluster registered yet" in page.text
    assert "Register a cluster" in page.text
    bad = client.post("/ui/clusters", data={"csrf_token": _csrf(page.text), "name": "x",
                                            "kubeconfig_text": "not: [valid"})
    assert bad.status_code == 400
    assert "kubeconfig" in bad.text
    account = client.get("/ui/account")
    made = client.post("/ui/account/tokens", data={"csrf_token": _csrf(account.text), "name": "ci"})
    token = re.search(r'class="secret">(amk_[^<]+)<', made.text)
    assert token, made.text
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.group(1)}"}).json()[
        "username"] == "admin"
    assert token.group(1) not in client.get("/ui/account").text  # shown once only
