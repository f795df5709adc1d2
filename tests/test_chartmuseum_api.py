"""The ChartMuseum-compatible API and the Helm repository endpoints, in process, on both databases."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import yaml
from litestar.testing import TestClient

from tests.support.charts import make_chart_tgz

Client = TestClient[Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_project(client: Client, token: str, name: str = "team-a", visibility: str = "private") -> None:
    r = client.post("/api/v1/projects", json={"name": name, "visibility": visibility}, headers=bearer(token))
    assert r.status_code == 201, r.text


def test_upload_list_get_download_delete(client: Client, admin_token: str) -> None:
    make_project(client, admin_token)
    tgz = make_chart_tgz(name="mychart", version="0.1.0")
    r = client.post("/api/team-a/charts", content=tgz, headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    assert r.json() == {"saved": True}

    charts = client.get("/api/team-a/charts", headers=bearer(admin_token)).json()
    assert list(charts) == ["mychart"]
    entry = charts["mychart"][0]
    assert entry["version"] == "0.1.0"
    assert entry["digest"] == hashlib.sha256(tgz).hexdigest()
    assert entry["urls"] == ["charts/mychart-0.1.0.tgz"]

    assert client.get("/api/team-a/charts/mychart/0.1.0", headers=bearer(admin_token)).json()["name"] == "mychart"
    assert client.head("/api/team-a/charts/mychart/0.1.0", headers=bearer(admin_token)).status_code == 200
    assert client.head("/api/team-a/charts/mychart/9.9.9", headers=bearer(admin_token)).status_code == 404

    pkg = client.get("/team-a/charts/mychart-0.1.0.tgz", headers=bearer(admin_token))
    assert pkg.status_code == 200
    assert pkg.content == tgz
    head = client.head("/team-a/charts/mychart-0.1.0.tgz", headers=bearer(admin_token))
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(tgz))

    index = yaml.safe_load(client.get("/team-a/index.yaml", headers=bearer(admin_token)).content)
    assert index["apiVersion"] == "v1"
    assert index["entries"]["mychart"][0]["digest"] == hashlib.sha256(tgz).hexdigest()

    r = client.delete("/api/team-a/charts/mychart/0.1.0", headers=bearer(admin_token))
    assert r.status_code == 200
    assert r.json() == {"deleted": True}
    index = yaml.safe_load(client.get("/team-a/index.yaml", headers=bearer(admin_token)).content)
    assert index["entries"] == {}
    assert client.get("/team-a/charts/mychart-0.1.0.tgz", headers=bearer(admin_token)).status_code == 404


def test_conflict_and_force(client: Client, admin_token: str) -> None:
    make_project(client, admin_token)
    first = make_chart_tgz(name="mychart", version="1.0.0", description="first")
    second = make_chart_tgz(name="mychart", version="1.0.0", description="second")
    assert client.post("/api/team-a/charts", content=first, headers=bearer(admin_token)).status_code == 201
    r = client.post("/api/team-a/charts", content=second, headers=bearer(admin_token))
    assert r.status_code == 409
    assert "already exists" in r.json()["error"]
    r = client.post("/api/team-a/charts?force", content=second, headers=bearer(admin_token))
    assert r.status_code == 201
    got = client.get("/api/team-a/charts/mychart/1.0.0", headers=bearer(admin_token)).json()
    assert got["description"] == "second"
    assert got["digest"] == hashlib.sha256(second).hexdigest()


def test_multipart_upload_with_fields(client: Client, admin_token: str) -> None:
    make_project(client, admin_token)
    tgz = make_chart_tgz(name="viaform", version="0.2.0")
    r = client.post("/api/team-a/charts", files={"chart": ("viaform-0.2.0.tgz", tgz)},
                    headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    assert client.get("/api/team-a/charts/viaform", headers=bearer(admin_token)).json()[0]["version"] == "0.2.0"


def test_bad_uploads_are_refused_and_nothing_is_stored(client: Client, admin_token: str) -> None:
    make_project(client, admin_token)
    good = make_chart_tgz(name="keep", version="1.0.0")
    assert client.post("/api/team-a/charts", content=good, headers=bearer(admin_token)).status_code == 201
    before = client.get("/team-a/index.yaml", headers=bearer(admin_token)).content
    for bad in [b"not a tarball", gzip.compress(b"plain gzip, no tar"), good[: len(good) // 2],
                make_chart_tgz(name="Bad_Name", version="1.0.0"),
                make_chart_tgz(name="nover", version="not-semver")]:
        r = client.post("/api/team-a/charts", content=bad, headers=bearer(admin_token))
        assert r.status_code == 400, r.text
        assert r.json()["error"]
    assert client.get("/team-a/index.yaml", headers=bearer(admin_token)).content == before
    r = client.post("/api/team-a/charts", files={"wrong": ("x.tgz", good)}, headers=bearer(admin_token))
    assert r.status_code == 400
    assert "chart" in r.json()["error"]


def test_oversize_upload_gets_413(client: Client, admin_token: str, settings: Any) -> None:
    make_project(client, admin_token)
    limit = settings.chart_limits.max_archive_bytes
    r = client.post("/api/team-a/charts", content=b"\0" * (limit + 1), headers=bearer(admin_token))
    assert r.status_code == 413
    assert "limit" in r.json()["error"]


def test_index_etag_304_gzip(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, visibility="public")
    client.post("/api/team-a/charts", content=make_chart_tgz(name="a", version="1.0.0"),
                headers=bearer(admin_token))
    r = client.get("/team-a/index.yaml")
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert r.headers["last-modified"]
    assert client.get("/team-a/index.yaml", headers={"If-None-Match": etag}).status_code == 304
    gz = client.get("/team-a/index.yaml", headers={"Accept-Encoding": "gzip"})
    assert yaml.safe_load(gz.content) == yaml.safe_load(r.content)  # httpx decodes gzip for us
    client.post("/api/team-a/charts", content=make_chart_tgz(name="a", version="1.1.0"),
                headers=bearer(admin_token))
    r2 = client.get("/team-a/index.yaml", headers={"If-None-Match": etag})
    assert r2.status_code == 200
    assert r2.headers["etag"] != etag
    versions = [e["version"] for e in yaml.safe_load(r2.content)["entries"]["a"]]
    assert versions == ["1.1.0", "1.0.0"]


def test_anonymous_access(client: Client, admin_token: str) -> None:
    make_project(client, admin_token, "pub", "public")
    make_project(client, admin_token, "priv", "private")
    tgz = make_chart_tgz(name="c", version="1.0.0")
    for p in ("pub", "priv"):
        assert client.post(f"/api/{p}/charts", content=tgz, headers=bearer(admin_token)).status_code == 201
    assert client.get("/pub/index.yaml").status_code == 200
    assert client.get("/pub/charts/c-1.0.0.tgz").content == tgz
    r = client.get("/priv/index.yaml")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert client.get("/priv/charts/c-1.0.0.tgz").status_code == 401
    assert client.get("/api/priv/charts").status_code == 401
    r = client.post("/api/pub/charts", content=make_chart_tgz(name="c", version="2.0.0"))
    assert r.status_code == 401
    assert client.get("/priv/index.yaml", headers=bearer("amk_wrong")).status_code == 401


def test_roles_and_robots(client: Client, admin_token: str) -> None:
    make_project(client, admin_token)
    for user in ("viewer1", "dev1", "maint1"):
        r = client.post("/api/v1/users", json={"username": user, "password": "s3cret-pass"},
                        headers=bearer(admin_token))
        assert r.status_code == 201, r.text
    for user, role in (("viewer1", "viewer"), ("dev1", "developer"), ("maint1", "maintainer")):
        r = client.put("/api/v1/projects/team-a/members", json={"username": user, "role": role},
                       headers=bearer(admin_token))
        assert r.status_code == 200, r.text
    tgz = make_chart_tgz(name="r", version="1.0.0")
    viewer = ("viewer1", "s3cret-pass")
    dev = ("dev1", "s3cret-pass")
    maint = ("maint1", "s3cret-pass")
    assert client.post("/api/team-a/charts", content=tgz, auth=viewer).status_code == 403
    assert client.post("/api/team-a/charts", content=tgz, auth=dev).status_code == 201
    assert client.get("/team-a/index.yaml", auth=viewer).status_code == 200
    assert client.post("/api/team-a/charts?force", content=tgz, auth=dev).status_code == 403
    assert client.delete("/api/team-a/charts/r/1.0.0", auth=dev).status_code == 403
    assert client.post("/api/team-a/charts?force", content=tgz, auth=maint).status_code == 201
    assert client.get("/team-a/index.yaml", auth=("viewer1", "wrong-pass")).status_code == 401

    r = client.post("/api/v1/projects/team-a/robots", json={"name": "ci", "actions": ["pull", "push"]},
                    headers=bearer(admin_token))
    assert r.status_code == 201, r.text
    robot = r.json()
    assert robot["robot"]["username"] == "robot$team-a+ci"
    token = robot["token"]
    ok = make_chart_tgz(name="r", version="2.0.0")
    assert client.post("/api/team-a/charts", content=ok, headers=bearer(token)).status_code == 201
    assert client.post("/api/team-a/charts", content=make_chart_tgz(name="r", version="3.0.0"),
                       auth=("robot$team-a+ci", token)).status_code == 201
    assert client.delete("/api/team-a/charts/r/2.0.0", headers=bearer(token)).status_code == 403
    make_project(client, admin_token, "team-b")
    assert client.post("/api/team-b/charts", content=ok, headers=bearer(token)).status_code == 403
    # tokens are stored hashed: the plaintext appears nowhere in the robots listing
    listing = client.get("/api/v1/projects/team-a/robots", headers=bearer(admin_token)).text
    assert token not in listing


def test_project_api(client: Client, admin_token: str) -> None:
    h = bearer(admin_token)
    r = client.post("/api/v1/projects", json={"name": "api", "visibility": "public"}, headers=h)
    assert r.status_code == 400
    assert "reserved" in r.json()["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/projects", json={"name": "Bad Name"}, headers=h).status_code == 400
    assert client.post("/api/v1/projects", json={"name": "ok-1", "visibility": "secret"},
                       headers=h).status_code == 400
    make_project(client, admin_token, "ok-1")
    assert client.post("/api/v1/projects", json={"name": "ok-1"}, headers=h).status_code == 409
    assert [p["name"] for p in client.get("/api/v1/projects", headers=h).json()] == ["ok-1"]
    assert client.get("/api/v1/projects").json() == []  # private projects are invisible to anonymous
    assert client.post("/api/v1/projects", json={"name": "anon"}).status_code == 401
    assert client.get("/api/v1/projects/ok-1", headers=h).json()["visibility"] == "private"
    assert client.delete("/api/v1/projects/ok-1", headers=h).status_code == 204
    assert client.get("/api/v1/projects/ok-1", headers=h).status_code == 404


def test_health_metrics_and_openapi(client: Client, admin_token: str) -> None:
    assert client.get("/health").json() == {"healthy": True}
    make_project(client, admin_token, visibility="public")
    client.post("/api/team-a/charts", content=make_chart_tgz(name="m", version="1.0.0"),
                headers=bearer(admin_token))
    client.get("/team-a/index.yaml")
    text = client.get("/metrics").text
    assert "appmarket_chart_versions 1.0" in text
    assert "appmarket_requests_total" in text
    assert 'path="/{project:str}/index.yaml"' in text or "index.yaml" in text
    assert client.get("/api/v1/docs/openapi.json").status_code == 200


def test_expired_robot_token_is_refused(client: Client, admin_token: str, settings: Any) -> None:
    from sqlmodel import Session, select  # noqa: PLC0415 - reaching into the table on purpose

    from appmarket.db.engine import make_unpooled_engine  # noqa: PLC0415
    from appmarket.db.models import Robot, utcnow  # noqa: PLC0415

    make_project(client, admin_token)
    r = client.post("/api/v1/projects/team-a/robots", json={"name": "old", "actions": ["pull"],
                                                             "expires_in_days": 1}, headers=bearer(admin_token))
    token = r.json()["token"]
    assert client.get("/api/team-a/charts", headers=bearer(token)).status_code == 200
    engine = make_unpooled_engine(settings.effective_database_url)
    with Session(engine) as s:
        robot = s.exec(select(Robot).where(Robot.name == "old")).one()
        robot.expires_at = utcnow().replace(year=2020)
        s.add(robot)
        s.commit()
    engine.dispose()
    r = client.get("/api/team-a/charts", headers=bearer(token))
    assert r.status_code == 401
    assert "expired" in r.json()["error"]
    bad = client.post("/api/v1/projects/team-a/robots", json={"name": "x", "actions": ["admin"]},
                      headers=bearer(admin_token))
    assert bad.status_code == 400


def test_curl_data_binary_upload(client: Client, admin_token: str) -> None:
    """``curl --data-binary @x.tgz`` sends a form content type; the body is still the raw package."""
    make_project(client, admin_token)
    tgz = make_chart_tgz(name="curled", version="0.1.0")
    r = client.post("/api/team-a/charts", content=tgz, auth=("admin", admin_token),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201, r.text
    assert client.get("/team-a/charts/curled-0.1.0.tgz", auth=("admin", admin_token)).content == tgz
