"""index.yaml projection: fragments, assembly, tricky values, and the real helm reading it all."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.server
import io
import json
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from appmarket.repo.chart_meta import ChartMetadata, parse_chart_yaml
from appmarket.repo.chart_package import inspect_chart
from appmarket.repo.index import (
    format_timestamp,
    index_entry,
    render_empty_index,
    render_entry,
    render_index,
    semver_sort_key,
)
from appmarket.settings import ChartLimits
from tests.support.charts import chart_yaml_text, make_chart_tgz
from tests.support.helm import Helm

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
TRICKY = [
    "yes", "no", "y", "n", "Y", "N", "on", "off", "true", "False", "null", "~", "", "1.0", "1e3", "1E+3", "08",
    "0755", "0o17", "0x1F", "0b101", "1_000", "12:30", "190:20:30", "2024-01-01", "2024-01-01T10:00:00Z", ".inf",
    "-.inf", ".NaN", "+1", "-0", ".5", "1.", "*star", "&anchor", "!tag", "%percent", "@at", "`tick", "- dash",
    "? q", ": colon", "key: value", "a #comment", "#hash", "'single'", '"double"', "back\\slash", "{brace", "[b",
    "|", ">", "=", "<<", "unicode ünïcødé 日本語 🚀 ∑", "multi\nline\n\n\ndescription\n", "  leading spaces",
    "trailing spaces  ", "tab\there", "line\u2028separator", "next\x85line", "\ufeffbom", "x" * 5000,
    "ends with colon:", "comma, list", "percent %", "---", "...", "- ", "-", "a\\nb",
]


def metadata(**fields: Any) -> ChartMetadata:
    return parse_chart_yaml(chart_yaml_text("tricky", "1.0.0", **fields).encode())


def test_format_timestamp_is_rfc3339nano_utc() -> None:
    assert format_timestamp(WHEN) == "2024-05-06T07:08:09.123456Z"
    assert format_timestamp(WHEN.replace(microsecond=120000)) == "2024-05-06T07:08:09.12Z"
    assert format_timestamp(WHEN.replace(microsecond=0)) == "2024-05-06T07:08:09Z"
    plus2 = dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_timestamp(plus2) == "2024-05-06T07:08:09Z"
    assert format_timestamp(dt.datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06T07:08:09Z"  # naive = UTC


def test_index_entry() -> None:
    md = metadata(keywords=["a"], kubeVersion=">=1.20.0-0")
    entry = index_entry(md, "sha256:" + "ab" * 32, WHEN, ["charts/tricky-1.0.0.tgz"])
    assert entry == {"apiVersion": "v2", "name": "tricky", "version": "1.0.0", "description": "A test chart",
                     "appVersion": "1.0.0", "keywords": ["a"], "kubeVersion": ">=1.20.0-0",
                     "urls": ["charts/tricky-1.0.0.tgz"], "created": "2024-05-06T07:08:09.123456Z",
                     "digest": "ab" * 32}
    from_dict = index_entry({"name": "x", "version": "1.0.0", "engine": "gotpl", "icon": ""}, "cd" * 32, WHEN, [])
    assert from_dict == {"name": "x", "version": "1.0.0", "urls": [], "created": "2024-05-06T07:08:09.123456Z",
                         "digest": "cd" * 32}


def test_render_entry_shape() -> None:
    frag = render_entry(index_entry(metadata(), "ab" * 32, WHEN, ["u"]))
    assert frag.startswith("  - apiVersion: v2\n    appVersion: 1.0.0\n    created: '2024-05-06T07:08:09.123456Z'\n")
    assert frag.endswith("\n") and not frag.endswith("\n\n")
    assert all(line.startswith("    ") for line in frag.splitlines()[1:])


def entry_with(value: str) -> dict[str, Any]:
    return {"apiVersion": "v2", "name": "tricky", "version": "1.0.0", "description": value, "appVersion": value,
            "keywords": [value, "plain", ""], "home": value, "annotations": {value or "empty": value, "k" * 200: value},
            "maintainers": [{"name": value, "email": value}], "urls": [value], "created": format_timestamp(WHEN),
            "digest": "ab" * 32, "deprecated": True,
            "dependencies": [{"name": "d", "version": value, "import-values": [value, {"child": value,
                                                                                      "parent": "p"}]}]}


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_tricky_values_round_trip(value: str) -> None:
    entry = entry_with(value)
    body = render_index({"tricky": [render_entry(entry)], "yes": [render_entry(entry)]}, WHEN)
    loaded = yaml.safe_load(body)
    assert loaded == {"apiVersion": "v1", "entries": {"tricky": [entry], "yes": [entry]},
                      "generated": "2024-05-06T07:08:09.123456Z"}


def test_render_index_orders_names_and_keeps_version_order() -> None:
    frags = {name: [render_entry({"name": name, "version": v}) for v in ("2.0.0", "1.0.0")]
             for name in ("b", "a", "null", "0123", "y", "UPPER", "with space")}
    frags["empty"] = []
    loaded = yaml.safe_load(render_index(frags, WHEN))
    assert list(loaded["entries"]) == sorted(n for n in frags if n != "empty")
    assert [e["version"] for e in loaded["entries"]["a"]] == ["2.0.0", "1.0.0"]
    assert all(isinstance(k, str) for k in loaded["entries"])


def test_empty_index() -> None:
    body = render_empty_index(WHEN)
    assert body == b'apiVersion: v1\nentries: {}\ngenerated: "2024-05-06T07:08:09.123456Z"\n'
    assert yaml.safe_load(body)["entries"] == {}


def test_semver_sort_key() -> None:
    versions = ["1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                "1.0.0-beta.11", "1.0.0-rc.1", "0.9.9", "10.0.0", "2.0.0", "1.0.0+build", "not-semver"]
    ordered = sorted(versions, key=semver_sort_key, reverse=True)
    assert ordered[:3] == ["10.0.0", "2.0.0", "1.0.0"] or ordered[:3] == ["10.0.0", "2.0.0", "1.0.0+build"]
    assert ordered[4:] == ["1.0.0-rc.1", "1.0.0-beta.11", "1.0.0-beta.2", "1.0.0-beta", "1.0.0-alpha.beta",
                           "1.0.0-alpha.1", "1.0.0-alpha", "0.9.9", "not-semver"]
    assert semver_sort_key("1.0.0") == semver_sort_key("1.0.0+build")


def test_render_speed() -> None:
    """Generous bounds so a slow CI box passes; typical numbers are reported by the engineer."""
    entry = index_entry(parse_chart_yaml(chart_yaml_text(
        "web", "1.2.3", keywords=["web", "http"], home="https://example.com",
        maintainers=[{"name": "Jane", "email": "jane@example.com"}],
        annotations={"artifacthub.io/license": "Apache-2.0"}).encode()), "ab" * 32, WHEN, ["charts/web-1.2.3.tgz"])
    start = time.perf_counter()
    frag = ""
    for _ in range(200):
        frag = render_entry(entry)
    per_entry = (time.perf_counter() - start) / 200
    frags = {f"chart-{i}": [frag] * 10 for i in range(1000)}
    start = time.perf_counter()
    render_index(frags, WHEN)
    assembly = time.perf_counter() - start
    assert per_entry < 0.005
    assert assembly < 0.2


# -- the real helm -----------------------------------------------------------------------------------------

def helm_sanitised(text: str) -> str:
    """What Helm's Metadata.Validate does to strings when it loads an index (sanitizeString)."""
    return "".join(" " if c.isspace() else c for c in text if c.isspace() or c.isprintable()
                   or unicodedata.category(c) in ("Zs",))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "repo"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


HELM_TRICKY = [v for v in TRICKY if v.strip() and "\x85" not in v]  # Chart.yaml refuses C1 controls


@pytest.mark.slow
def test_real_helm_reads_the_index(tmp_path: Path, served: tuple[Path, str]) -> None:
    root, url = served
    fragments: dict[str, list[tuple[str, str]]] = {}
    expected: dict[str, dict[str, str]] = {}
    packages: dict[str, bytes] = {}

    def add(name: str, version: str, description: str, app_version: str, **extra: Any) -> None:
        tgz = make_chart_tgz(chart_yaml=chart_yaml_text(name, version, description=description,
                                                        app_version=app_version, **extra), name=name)
        pkg = inspect_chart(io.BytesIO(tgz), ChartLimits())
        (root / "charts").mkdir(exist_ok=True)
        (root / "charts" / pkg.filename).write_bytes(tgz)
        packages[f"{name}-{version}"] = tgz
        frag = render_entry(index_entry(pkg.metadata, pkg.digest, WHEN, [f"charts/{pkg.filename}"]))
        fragments.setdefault(name, []).append((version, frag))
        expected[f"{name} {version}"] = {"description": helm_sanitised(description),
                                         "app_version": helm_sanitised(app_version)}

    for i, value in enumerate(HELM_TRICKY):
        add("tricky", f"1.0.{i}", value, value, keywords=[value, "k"],
            annotations={"example.com/" + "a" * 150: value, "v": value},
            maintainers=[{"name": value}], kubeVersion=">=1.20.0-0",
            dependencies=[{"name": "dep", "version": "~1.2.3", "repository": "https://example.com",
                           "import-values": [{"child": "a", "parent": "b"}]}])
    for name in ("y", "0123", "null", "on"):  # names go-yaml v2 would read as bool, int or null
        add(name, "0.1.0", f"chart {name}", "1")
    index = {n: [f for _, f in sorted(v, key=lambda x: semver_sort_key(x[0]), reverse=True)]
             for n, v in fragments.items()}
    (root / "index.yaml").write_bytes(render_index(index, WHEN))

    helm = Helm(tmp_path / "home")
    helm.run("repo", "add", "am", url)
    found = json.loads(helm.run("search", "repo", "am/", "--versions", "--devel", "-o", "json").stdout)
    got = {f"{r['name'].removeprefix('am/')} {r['version']}": {"description": r["description"],
                                                               "app_version": r["app_version"]} for r in found}
    assert got == expected
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    for name, version in (("tricky", "1.0.3"), ("0123", "0.1.0"), ("y", "0.1.0")):
        helm.run("pull", f"am/{name}", "--version", version, "-d", str(pulled))
        data = (pulled / f"{name}-{version}.tgz").read_bytes()
        assert hashlib.sha256(data).digest() == hashlib.sha256(packages[f"{name}-{version}"]).digest()
