"""Two replicas on one database and store: a change made through one is served by the other."""

from __future__ import annotations

import time

import yaml
from litestar.testing import TestClient

from appmarket.app import create_app
from appmarket.settings import Settings
from tests.support.charts import make_chart_tgz


def test_index_changes_reach_the_other_replica(settings: Settings, admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        assert a.post("/api/v1/projects", json={"name": "shared", "visibility": "public"}, headers=h).status_code == 201
        assert yaml.safe_load(b.get("/shared/index.yaml").content)["entries"] == {}
        etag_before = b.get("/shared/index.yaml").headers["etag"]
        assert a.post("/api/shared/charts", content=make_chart_tgz(name="x", version="1.0.0"),
                      headers=h).status_code == 201
        time.sleep(settings.index_revalidate_seconds * 2)
        after = b.get("/shared/index.yaml")
        assert [e["version"] for e in yaml.safe_load(after.content)["entries"]["x"]] == ["1.0.0"]
        assert after.headers["etag"] != etag_before
        # Both replicas agree on the ETag of the same revision, so a client may switch between them.
        assert a.get("/shared/index.yaml").headers["etag"] == after.headers["etag"]
        assert b.delete("/api/shared/charts/x/1.0.0", headers=h).status_code == 200
        time.sleep(settings.index_revalidate_seconds * 2)
        assert yaml.safe_load(a.get("/shared/index.yaml").content)["entries"] == {}


