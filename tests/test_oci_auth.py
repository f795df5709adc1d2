"""Registry token auth: challenges, the token endpoint (GET and OAuth2 POST), scope intersection."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from appmarket.errors import Unauthorized
from appmarket.repo.oci import tokens
from tests.support.oci import basic, error_code, push_image

Client = TestClient  # type: ignore[type-arg]


def _setup(client: Client, admin_token: str) -> tuple[dict[str, str], str]:
    auth = basic("admin", admin_token)
    assert client.post("/api/v1/projects", json={"name": "team-a"}, headers=auth).status_code == 201
    assert client.post("/api/v1/projects", json={"name": "pub", "visibility": "public"},
                       headers=auth).status_code == 201
    r = client.post("/api/v1/projects/team-a/robots", json={"name": "ci", "actions": ["pull", "push"]},
                    headers=auth)
    assert r.status_code == 201, r.text
    robot: dict[str, Any] = r.json()
    return auth, robot["token"]


def _token(client: Client, headers: dict[str, str], *scopes: str) -> dict[str, Any]:
    params = [("service", "appmarket"), *(("scope", s) for s in scopes)]
    r = client.get("/v2/token", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_challenge_and_token_flow(client: Client, admin_token: str) -> None:
    auth, robot_token = _setup(client, admin_token)
    push_image(client, auth, "team-a/app", "v1", b"{}", [b"layer"])
    push_image(client, auth, "pub/app", "v1", b"{}", [b"layer"])
    r = client.get("/v2/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="http://testserver.local/v2/token",service="appmarket"'
    r = client.get("/v2/team-a/app/manifests/v1")
    assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
    assert 'scope="repository:team-a/app:pull"' in r.headers["www-authenticate"]
    r = client.put("/v2/team-a/app/manifests/v2", content=b"{}")
    assert 'scope="repository:team-a/app:pull,push"' in r.headers["www-authenticate"]
    # Anonymous: public pull only.
    anon = _token(client, {}, "repository:pub/app:pull,push", "repository:team-a/app:pull")
    claims = tokens.decode(anon["token"], client.app.state.services.registry.token_key, audience="appmarket")
    assert claims["access"] == [{"type": "repository", "name": "pub/app", "actions": ["pull"]}]
    bearer = {"Authorization": f"Bearer {anon['token']}"}
    r = client.get("/v2/", headers=bearer)  # docker pings /v2/ with the anonymous token it just got
    assert r.status_code == 200 and r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert client.get("/v2/pub/app/manifests/v1", headers=bearer).status_code == 200
    assert client.get("/v2/team-a/app/manifests/v1", headers=bearer).status_code == 401
    # Robot: its own project, its own actions.
    robot_auth = basic("robot$team-a+ci", robot_token)
    granted = _token(client, robot_auth, "repository:team-a/app:pull,push,delete", "repository:pub/app:push")
    claims = tokens.decode(granted["token"], client.app.state.services.registry.token_key, audience="appmarket")
    assert claims["access"] == [{"type": "repository", "name": "team-a/app", "actions": ["pull", "push"]}]
    bearer = {"Authorization": f"Bearer {granted['token']}"}
    assert client.get("/v2/team-a/app/manifests/v1", headers=bearer).status_code == 200
    r = client.delete("/v2/team-a/app/manifests/v1", headers=bearer)
    assert r.status_code == 403 and error_code(r) == "DENIED"  # the robot may not delete, token or not
    # Basic credentials directly on /v2 (some clients skip the token dance); matrix still applies.
    assert client.get("/v2/team-a/app/manifests/v1", headers=robot_auth).status_code == 200
    r = client.delete("/v2/team-a/app/manifests/v1", headers=robot_auth)
    assert r.status_code == 403 and error_code(r) == "DENIED"
    # Bad credentials on the token endpoint: the spec's envelope, from the same code table as /v2.
    r = client.get("/v2/token", headers=basic("admin", "wrong"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="AppMarket"'
    assert r.json() == {"errors": [{"code": "UNAUTHORIZED", "message": r.json()["errors"][0]["message"],
                                    "detail": None}]}
    assert client.get("/v2/", headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    # OAuth2 POST form.
    r = client.post("/v2/token", data={"grant_type": "password", "username": "admin", "password": admin_token,
                                       "service": "appmarket", "scope": "repository:team-a/app:delete"})
    assert r.status_code == 200
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/v2/", headers=bearer).status_code == 200
    assert client.delete("/v2/team-a/app/manifests/v1", headers=bearer).status_code == 202


def test_tokens_reject_tampering() -> None:
    key = b"k" * 32
    good = tokens.encode({"aud": "appmarket", "exp": 4_000_000_000, "access": []}, key)
    assert tokens.decode(good, key, audience="appmarket")["aud"] == "appmarket"
    head, body, sig = good.split(".")
    for bad in (f"{head}.{body}.{sig[:-2]}AA", good.replace(head, "eyJhbGciOiJub25lIn0"),
                tokens.encode({"aud": "appmarket", "exp": 1}, key), tokens.encode({"aud": "x", "exp": 4e9}, key)):
        with pytest.raises(Unauthorized):
            tokens.decode(bad, key, audience="appmarket")
    assert tokens.parse_scopes(["repository:a/b:pull,push repository:a/c:*", "registry:catalog:*"]) == {
        "a/b": {"pull", "push"}, "a/c": {"pull", "push", "delete"}}
