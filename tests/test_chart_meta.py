"""Chart.yaml, values and values.schema.json parsing, version constraints, and chart intake."""

from __future__ import annotations

import io
import json

import msgspec
import pytest

from appmarket.errors import Invalid
from appmarket.repo.chart_meta import (
    ChartMetadata,
    parse_chart_yaml,
    parse_values,
    parse_values_schema,
)
from appmarket.repo.chart_package import inspect_chart
from appmarket.repo.version_constraints import kube_version_satisfies, parse_constraint
from appmarket.settings import ChartLimits
from tests.support.charts import make_chart_tgz

FULL = b"""\
apiVersion: v2
name: web-app
version: 1.2.3-rc.1+build.5
kubeVersion: ">=1.20.0-0"
description: A web application
type: application
keywords: [web, http]
home: https://example.com
sources: [https://github.com/example/web-app]
dependencies:
  - name: redis
    version: ~17.3.0
    repository: oci://registry.example.com/charts
    condition: redis.enabled
    tags: [cache]
    import-values: [data, {child: a, parent: b}]
    alias: cache
  - name: postgresql
    version: ">= 12.0.0, < 13"
    repository: https://charts.example.com
maintainers:
  - name: Jane
    email: jane@example.com
    url: https://jane.example.com
icon: data:image/png;base64,iVBORw0KGgo=
appVersion: "2.0"
deprecated: true
annotations:
  artifacthub.io/license: Apache-2.0
engine: gotpl
x-custom: ignored
"""


def meta(text: str, **kw: bytes) -> ChartMetadata:
    return parse_chart_yaml(text.encode(), **kw)


def refused(text: str | bytes, **kw: bytes) -> str:
    with pytest.raises(Invalid) as info:
        parse_chart_yaml(text.encode() if isinstance(text, str) else text, **kw)
    return info.value.message


def test_full_chart_yaml_round_trips_with_helm_key_names() -> None:
    md = parse_chart_yaml(FULL)
    assert (md.name, md.version, md.kube_version, md.app_version) == ("web-app", "1.2.3-rc.1+build.5",
                                                                      ">=1.20.0-0", "2.0")
    assert md.dependencies[0].alias == "cache"
    assert md.dependencies[0].import_values == ["data", {"child": "a", "parent": "b"}]
    wire = msgspec.to_builtins(md)
    assert wire["apiVersion"] == "v2" and wire["appVersion"] == "2.0" and wire["kubeVersion"] == ">=1.20.0-0"
    assert wire["dependencies"][0]["import-values"] == ["data", {"child": "a", "parent": "b"}]
    assert "engine" not in wire and "x-custom" not in wire
    assert msgspec.convert(wire, ChartMetadata) == md


def test_minimal_chart_omits_empty_fields() -> None:
    md = meta("apiVersion: v2\nname: a\nversion: 0.0.1\n")
    assert msgspec.to_builtins(md) == {"apiVersion": "v2", "name": "a", "version": "0.0.1"}


def test_missing_api_version_means_v1_and_bom_is_ignored() -> None:
    assert parse_chart_yaml(b"\xef\xbb\xbfname: a\nversion: 1.0.0\n").api_version == "v1"
    assert "apiVersion 'v3' is not valid" in refused("apiVersion: v3\nname: a\nversion: 1.0.0\n")


@pytest.mark.parametrize("name", ["a", "nginx", "web-app", "0123", "a1-b2-c3", "x" * 100])
def test_valid_names(name: str) -> None:
    assert meta(f"apiVersion: v2\nname: '{name}'\nversion: 1.0.0\n").name == name


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-a", "a-", "a.b", "a/b", "../x", "a b", "é",
                                  "x" * 101, "a%2f"])
def test_invalid_names(name: str) -> None:
    assert "chart name" in refused(f"apiVersion: v2\nname: '{name}'\nversion: 1.0.0\n")


def test_required_fields() -> None:
    assert "name is required" in refused("apiVersion: v2\nversion: 1.0.0\n")
    assert "version is required" in refused("apiVersion: v2\nname: a\n")


@pytest.mark.parametrize(("version", "message"), [
    ("v1.2.3", "drop the leading 'v': 1.2.3"),
    ("1.2", "not a valid strict SemVer 2"),
    ("01.2.3", "not a valid strict SemVer 2"),
    ("1.2.3-01", "not a valid strict SemVer 2"),
    ("latest", "not a valid strict SemVer 2"),
    ("1.0.0-" + "a" * 100, "longer than 100"),
])
def test_invalid_versions(version: str, message: str) -> None:
    assert message in refused(f"apiVersion: v2\nname: a\nversion: '{version}'\n")


def test_unquoted_numbers_are_refused_with_a_hint() -> None:
    assert "quote values" in refused("apiVersion: v2\nname: a\nversion: 1.0\n")
    assert "$.appVersion" in refused("apiVersion: v2\nname: a\nversion: 1.0.0\nappVersion: 1.10\n")
    assert "$.annotations" in refused("apiVersion: v2\nname: a\nversion: 1.0.0\nannotations: {x: true}\n")


def test_dates_stay_strings() -> None:
    assert meta("apiVersion: v2\nname: a\nversion: 1.0.0\nappVersion: 2024-01-01\n").app_version == "2024-01-01"


def test_type_rules() -> None:
    assert meta("apiVersion: v2\nname: a\nversion: 1.0.0\ntype: library\n").type == "library"
    assert "application or library" in refused("apiVersion: v2\nname: a\nversion: 1.0.0\ntype: plugin\n")
    assert "only valid in apiVersion v2" in refused("apiVersion: v1\nname: a\nversion: 1.0.0\ntype: library\n")


def test_kube_version_must_be_a_constraint() -> None:
    assert "kubeVersion" in refused("apiVersion: v2\nname: a\nversion: 1.0.0\nkubeVersion: '>= banana'\n")


def test_dependencies() -> None:
    base = "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies:\n"
    assert "disallowed characters in the alias" in refused(base + "- {name: r, version: 1.0.0, alias: 'a.b'}\n")
    assert "more than one dependency with name or alias 'r'" in refused(
        base + "- {name: r, version: 1.0.0}\n- {name: x, version: 1.0.0, alias: r}\n")
    assert "dependency 'r' version" in refused(base + "- {name: r, version: 'latest'}\n")
    assert "invalid name" in refused(base + "- {name: '', version: 1.0.0}\n")
    assert "dependencies[0]" in refused(base + "- 42\n")
    assert "only valid in apiVersion v2" in refused(
        "apiVersion: v1\nname: a\nversion: 1.0.0\ndependencies: [{name: r, version: 1.0.0}]\n")


def test_v1_dependencies_come_from_requirements_yaml() -> None:
    md = meta("apiVersion: v1\nname: a\nversion: 1.0.0\n",
              requirements_yaml=b"dependencies:\n- name: mysql\n  version: 1.x\n  repository: '@stable'\n")
    assert [(d.name, d.version, d.repository) for d in md.dependencies] == [("mysql", "1.x", "@stable")]
    assert "requirements.yaml must be a mapping" in refused("name: a\nversion: 1.0.0\n", requirements_yaml=b"[]")


def test_maintainers_and_links() -> None:
    base = "apiVersion: v2\nname: a\nversion: 1.0.0\n"
    assert "maintainers[0] has no name" in refused(base + "maintainers: [{email: a@b.c}]\n")
    assert "invalid email 'nope'" in refused(base + "maintainers: [{name: x, email: nope}]\n")
    assert "javascript: scheme" in refused(base + "home: 'javascript:alert(1)'\n")
    assert "javascript: scheme" in refused(base + "maintainers: [{name: x, url: 'JavaScript:x'}]\n")
    assert "data: scheme" in refused(base + "icon: 'data:text/html,<script>'\n")
    assert "not an absolute URL" in refused(base + "icon: /relative/icon.png\n")
    assert "sources[0] is empty" in refused(base + "sources: ['']\n")


def test_control_characters_are_refused() -> None:
    assert "description contains a control character" in refused(
        'apiVersion: v2\nname: a\nversion: 1.0.0\ndescription: "bell\\a"\n')
    assert "contains a control character" in refused(
        'apiVersion: v2\nname: a\nversion: 1.0.0\nkeywords: ["\\x1b[31m"]\n')


@pytest.mark.parametrize(("text", "message"), [
    (b"- a list\n", "must be a mapping"),
    (b"name: [unclosed\n", "is not valid YAML"),
    (b"name: a\n\tversion: 1\n", "line 2"),
    (b"name: \xff\n", "not valid UTF-8"),
    (b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "alias bomb"),
    (b"a: &a [*a]\n", "recursive YAML alias"),
    (b"a: !!python/object:os.system x\n", "is not valid YAML"),
])
def test_yaml_problems(text: bytes, message: str) -> None:
    assert message in refused(text)


def test_parse_values() -> None:
    assert parse_values(b"") == {}
    assert parse_values(b"# only a comment\n") == {}
    assert parse_values(b"ports:\n  80: http\n  true: yes\n  ~: x\n") == {"ports": {"80": "http", "true": True,
                                                                                    "null": "x"}}
    assert parse_values(b"when: 2024-01-01\nexplicit: !!timestamp 2024-01-02\n") == {
        "when": "2024-01-01", "explicit": "2024-01-02"}
    with pytest.raises(Invalid, match="must be a mapping"):
        parse_values(b"[1, 2]")
    with pytest.raises(Invalid, match=r"values.yaml: .x is nan"):
        parse_values(b"x: .nan\n")
    with pytest.raises(Invalid, match="unsupported YAML type"):
        parse_values(b"x: !!binary aGVsbG8=\n")


SCHEMA = {"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
          "properties": {"replicas": {"type": "integer", "minimum": 1},
                         "image": {"type": "object", "properties": {"tag": {"type": "string"}}}},
          "required": ["replicas"]}


def test_values_schema() -> None:
    data = json.dumps(SCHEMA).encode()
    assert parse_values_schema(data, {"replicas": 2, "image": {"tag": "1.0"}}) == SCHEMA
    assert parse_values_schema(data) == SCHEMA
    with pytest.raises(Invalid) as info:
        parse_values_schema(data, {"replicas": 0, "image": {"tag": 5}})
    assert info.value.message == ("values.yaml does not match values.schema.json: image.tag: 5 is not of type "
                                  "'string'; replicas: 0 is less than the minimum of 1")
    with pytest.raises(Invalid, match=r"\(root\): 'replicas' is a required property"):
        parse_values_schema(data, {})


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"type": 5}', "not a valid JSON Schema at type"),
    (b'{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"a": {"minimum": "x"}}}',
     "not a valid JSON Schema at properties/a/minimum"),
])
def test_invalid_schemas(data: bytes, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_values_schema(data, {})


def test_remote_refs_are_not_fetched() -> None:
    schema = b'{"properties": {"a": {"$ref": "https://example.invalid/schema.json"}}}'
    with pytest.raises(Invalid, match="cannot be resolved without fetching"):
        parse_values_schema(schema, {"a": 1})
    assert parse_values_schema(schema, {}) is not None  # the ref is never needed: fine


@pytest.mark.parametrize(("constraint", "version", "expected"), [
    (">=1.20.0-0", "v1.28.3-gke.100", True),
    (">=1.20.0", "v1.28.3-gke.100", False),
    (">=1.20.0", "1.28.3", True),
    (">=1.20", "1.19.9", False),
    ("^1.2", "1.9.0", True), ("^1.2", "2.0.0", False), ("^0.2.3", "0.2.9", True), ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False), ("^0", "0.9.0", True), ("^0", "1.0.0", False),
    ("~1.3", "1.3.9", True), ("~1.3", "1.4.0", False), ("~1", "1.9.0", True), ("~>1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False), ("1.2.x", "1.2.7", True), ("1.2.x", "1.3.0", False), ("1.x", "1.9.9", True),
    ("*", "5.0.0", True), ("*", "5.0.0-beta", False), ("=1.2.3", "1.2.3", True), ("1.2.3", "1.2.3+meta", True),
    (">= 1.2, < 2", "1.5.0", True), (">= 1.2, < 2", "2.0.0", False), (">=1.2.3 <2", "1.9.9", True),
    ("<1.0 || >=2.1", "2.1.0", True), ("<1.0 || >=2.1", "1.5.0", False),
    ("1.2 - 1.4.5", "1.4.5", True), ("1.2 - 1.4.5", "1.4.6", False), ("1.2 - 1.4.5", "1.1.9", False),
    (">1.2", "1.2.9", False), (">1.2", "1.3.0", True), (">1.2.3", "1.2.4", True),
    ("<=1.2", "1.2.9", True), ("<=1.2", "1.3.0", False), ("<=1.2.3", "1.2.3", True),
    ("!=1.2.3", "1.2.3", False), ("!=1.2.3", "1.2.4", True), ("!=1.2.x", "1.2.5", False), ("!=1.2.x", "1.3.0", True),
    (">=1.19.0-0 <1.30.0-0", "1.29.5", True), (">=1.19.0-0 <1.30.0-0", "v1.30.0", False),
    (">=1.0.0-beta.2", "1.0.0-beta.10", True), (">=1.0.0-beta.2", "1.0.0-beta.1", False),
    ("", "1.0.0", True),
])
def test_kube_version_satisfies(constraint: str, version: str, expected: bool) -> None:
    assert kube_version_satisfies(constraint, version) is expected


@pytest.mark.parametrize("text", ["latest", ">=", "1.2.3 ||", ">=1.2.3>1", "1.2.3.4", ">= 1.2.3 &&  2", "~ ~1"])
def test_invalid_constraints(text: str) -> None:
    with pytest.raises(Invalid, match="not a valid version constraint"):
        parse_constraint(text)


def test_constraint_length_is_bounded() -> None:
    with pytest.raises(Invalid, match="longer than 256"):
        parse_constraint("1" * 5000 + " - 1")


def test_invalid_kube_version() -> None:
    with pytest.raises(Invalid, match="not a valid version"):
        kube_version_satisfies(">=1.20", "banana")


# -- inspect_chart: the archive and the metadata together ------------------------------------------------

def inspect(data: bytes):  # type: ignore[no-untyped-def]
    return inspect_chart(io.BytesIO(data), ChartLimits())


def test_inspect_chart() -> None:
    pkg = inspect(make_chart_tgz("web", "2.0.0", files={"README.md": "# Web\n", "values.schema.json": json.dumps(
        {"type": "object", "properties": {"replicaCount": {"type": "integer"}}})}))
    assert pkg.filename == "web-2.0.0.tgz"
    assert pkg.readme == "# Web\n"
    assert pkg.values["image"] == {"repository": "nginx", "tag": "1.25"}
    assert pkg.values_schema is not None
    assert pkg.chart_yaml.startswith("apiVersion: v2\n")
    assert pkg.templates == ["templates/configmap.yaml"]
    no_values = inspect(make_chart_tgz(values_yaml=None))
    assert (no_values.values_yaml, no_values.values) == ("", {})


def test_inspect_chart_refusals() -> None:
    with pytest.raises(Invalid, match="directory 'other' does not match the chart name 'demo'"):
        inspect(make_chart_tgz(top="other"))
    with pytest.raises(Invalid, match="replicaCount: 1 is not of type 'string'"):
        inspect(make_chart_tgz(files={"values.schema.json": '{"properties": {"replicaCount": {"type": "string"}}}'}))
    with pytest.raises(Invalid, match=r"Chart\.yaml is not valid UTF-8"):
        inspect(make_chart_tgz(chart_yaml=b"apiVersion: v2\nname: demo\nversion: 0.1.0\ndescription: \xe9\n"))
    with pytest.raises(Invalid, match="chart name 'Bad_Name'"):
        inspect(make_chart_tgz(name="Bad_Name"))
    assert inspect(make_chart_tgz(files={"README.md": b"caf\xe9"})).readme == "caf\ufffd"
