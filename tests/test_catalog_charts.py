"""Checks for the curated Helm charts under catalog/.

Every chart directory (found by its Chart.yaml, skipping charts vendored into an
umbrella's charts/ directory) is checked for:

* Chart.yaml metadata and the AppMarket annotations (``appmarket.io/*``);
* values.yaml against values.schema.json, and that every parameter is commented
  and described (type, description, default) in the schema;
* ``helm lint --strict`` with the default values, a "featured" variant derived
  from the featured-parameters annotation, and every ``ci/*-values.yaml`` file;
* ``helm template`` for the same variants (plus a ``global.imageRegistry``
  override), every rendered manifest validated against the Kubernetes JSON
  schemas of the two newest Kubernetes minors shipped by kubernetes-validate
  (TApp objects against the openAPIV3Schema of our own CRD instead);
* workload conventions: resources, probes, app.kubernetes.io labels, non-root
  securityContext, Service selectors that match pods, and a ``helm test`` hook.

helm runs on copies of the charts in a temporary directory with its own
HELM_*_HOME directories; umbrella dependencies are vendored there, never in the
repository. All helm invocations run once per session in a thread pool.
"""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import kubernetes_validate.utils as kv
import pytest
import yaml
from packaging.version import Version
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "catalog"
HELM = shutil.which("helm", path=str(REPO / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""))

CATEGORIES = {"Big Data", "AI / ML", "Workloads", "Databases", "Monitoring", "Networking", "Developer Tools"}
ARCHITECTURES = {"amd64", "arm64", "ppc64le", "s390x"}
SUITES = {"bigdata", "ai"}
ANNOTATIONS = {
    "appmarket.io/display-name",
    "appmarket.io/category",
    "appmarket.io/architectures",
    "appmarket.io/gpu",
    "appmarket.io/gpu-resource",
    "appmarket.io/gpu-count",
    "appmarket.io/featured-parameters",
    "appmarket.io/suite",
    "appmarket.io/suite-members",
    "appmarket.io/suites",
}
REQUIRED_ANNOTATIONS = {
    "appmarket.io/display-name",
    "appmarket.io/category",
    "appmarket.io/architectures",
    "appmarket.io/gpu",
    "appmarket.io/featured-parameters",
}
REQUIRED_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
SECRET_KEY = re.compile(r"(password|passwd|token|secret|apikey|api_key|credential)", re.I)
# Kubernetes versions checked: the two newest minors kubernetes-validate ships.
K8S_VERSIONS = sorted(set(kv.all_versions()), key=Version)[-2:]
RELEASE = "rel"
TEST_REGISTRY = "registry.example.com"


def find_charts() -> list[str]:
    charts = []
    for chart_yaml in sorted(CATALOG.rglob("Chart.yaml")):
        rel = chart_yaml.parent.relative_to(CATALOG)
        if "charts" in rel.parts[:-1] or "tmpcharts" in rel.parts:
            continue  # a dependency vendored into an umbrella chart
        charts.append(rel.as_posix())
    return charts


CHARTS = find_charts()


def load_yaml(path: Path):
    with open(path) as f:
        return yaml.safe_load(f)


def chart_meta(chart: str) -> dict:
    return load_yaml(CATALOG / chart / "Chart.yaml")


def chart_schema(chart: str) -> dict:
    with open(CATALOG / chart / "values.schema.json") as f:
        return json.load(f)


def schema_node(schema: dict, dotted: str) -> dict | None:
    node = schema
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return None
    return node


def featured(chart: str) -> list[str]:
    return json.loads(chart_meta(chart)["annotations"]["appmarket.io/featured-parameters"])


# ----------------------------------------------------------------------------- helm runs
@dataclass
class Run:
    lint_rc: int | None = None
    lint_out: str = ""
    template_rc: int | None = None
    template_out: str = ""
    docs: list = field(default_factory=list)


def featured_value(name: str, node: dict):
    """A non-default value for one featured parameter, as an install form would send."""
    default = node.get("default")
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "enum" in node:
        others = [e for e in node["enum"] if e != default]
        return others[0] if others else default
    if "boolean" in types:
        return not default
    if "integer" in types and isinstance(default, int):
        value = default + 1
        if "maximum" in node and value > node["maximum"]:
            value = max(node.get("minimum", 0), default - 1)
        return value
    if "number" in types and isinstance(default, (int, float)):
        value = round(default * 0.8, 3) or 1
        return min(max(value, node.get("minimum", value)), node.get("maximum", value))
    if name == "storageClass":
        return "fast-ssd"
    others = [e for e in node.get("examples", []) if e != default]
    return others[0] if others else default


def featured_values(chart: str) -> dict:
    schema = chart_schema(chart)
    values: dict = {}
    for dotted in featured(chart):
        node = schema_node(schema, dotted)
        assert node is not None, f"{chart}: featured parameter {dotted} missing from schema"
        target = values
        parts = dotted.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = featured_value(parts[-1], node)
    return values


def helm(args: list[str], env: dict, cwd: Path) -> tuple[int, str]:
    proc = subprocess.run([HELM, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def helm_runs(tmp_path_factory) -> dict:
    """{(chart, variant): Run} for every chart and values variant, computed in parallel."""
    if HELM is None:
        pytest.fail("helm binary not found in .venv/bin or PATH (see scripts/install-kube-tools.sh)")
    base = tmp_path_factory.mktemp("helm")
    env = dict(os.environ)
    env.update(
        HELM_CACHE_HOME=str(base / "cache"),
        HELM_CONFIG_HOME=str(base / "config"),
        HELM_DATA_HOME=str(base / "data"),
        KUBECONFIG=str(base / "no-kubeconfig"),
    )
    work = base / "catalog"
    shutil.copytree(CATALOG, work, ignore=shutil.ignore_patterns("charts", "Chart.lock", "*.tgz"))
    umbrellas = [c for c in CHARTS if chart_meta(c).get("dependencies")]
    for chart in umbrellas:  # vendor file:// dependencies into the temporary copy only
        rc, out = helm(["dependency", "update", "--skip-refresh", str(work / chart)], env, base)
        assert rc == 0, f"helm dependency update {chart} failed:\n{out}"

    jobs = []
    for chart in CHARTS:
        featured_file = base / f"{chart.replace('/', '__')}-featured.yaml"
        featured_file.write_text(yaml.safe_dump(featured_values(chart)))
        variants = {
            "default": [],
            "featured": ["-f", str(featured_file)],
            "registry": ["--set", f"global.imageRegistry={TEST_REGISTRY}"],
        }
        for ci in sorted((CATALOG / chart / "ci").glob("*.yaml")):
            variants[f"ci/{ci.name}"] = ["-f", str(ci)]
        for variant, args in variants.items():
            jobs.append((chart, variant, args))

    def run(job):
        chart, variant, args = job
        result = Run()
        path = str(work / chart)
        if variant != "registry":
            result.lint_rc, result.lint_out = helm(["lint", "--strict", path, *args], env, base)
        result.template_rc, result.template_out = helm(
            ["template", RELEASE, path, "--namespace", "apps", *args], env, base
        )
        if result.template_rc == 0:
            result.docs = [d for d in yaml.safe_load_all(result.template_out) if d]
        return (chart, variant), result

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2) * 2)) as pool:
        return dict(pool.map(run, jobs))


def variants_of(helm_runs: dict, chart: str) -> dict:
    return {v: r for (c, v), r in helm_runs.items() if c == chart}


# ----------------------------------------------------------------------------- schemas
KV_DIR = Path(kv.__file__).parent / "kubernetes-json-schema"


@functools.cache
def _k8s_json(version: str, name: str):
    path = KV_DIR / f"v{version}-local-strict" / name
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


@functools.cache
def k8s_validator(version: str, kind: str, api_version: str):
    """Strict schema validator of kubernetes-validate for one kind (cached; mirrors kv.validate)."""
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _k8s_json(version, f"{kind.lower()}-{api}.json")
    if schema is None:
        return None
    registry = Resource.from_contents(_k8s_json(version, "_definitions.json")) @ (
        Resource.from_contents(schema) @ Registry()
    )
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=1)
def tapp_crd() -> dict:
    """Our TApp CRD, as rendered by the tapp-controller chart."""
    out = subprocess.run(
        [HELM, "template", RELEASE, str(CATALOG / "tapp" / "tapp-controller")],
        capture_output=True,
        text=True,
        check=True,
        env=dict(
            os.environ,
            HELM_CACHE_HOME="/nonexistent/c",
            HELM_CONFIG_HOME="/nonexistent/g",
            HELM_DATA_HOME="/nonexistent/d",
        ),
    ).stdout
    for doc in yaml.safe_load_all(out):
        if doc and doc["kind"] == "CustomResourceDefinition" and doc["metadata"]["name"] == "tapps.apps.tkestack.io":
            return doc
    raise AssertionError("tapp-controller does not render the tapps.apps.tkestack.io CRD")


def crd_validator(doc: dict):
    crd = tapp_crd()
    group, _, version = doc["apiVersion"].partition("/")
    assert group == crd["spec"]["group"] and doc["kind"] == crd["spec"]["names"]["kind"]
    (ver,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(ver["schema"]["openAPIV3Schema"])


def validation_errors(doc: dict) -> list[str]:
    errors = []
    if doc["kind"] == "TApp":
        errors += [
            f"TApp (CRD schema): {'.'.join(map(str, e.path))}: {e.message}" for e in crd_validator(doc).iter_errors(doc)
        ]
        return errors
    for version in K8S_VERSIONS:
        validator = k8s_validator(version, doc["kind"], doc["apiVersion"])
        if validator is None:
            errors.append(f"no Kubernetes {version} schema for {doc['apiVersion']}/{doc['kind']}")
            continue
        errors += [f"k8s {version}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    return errors


# ----------------------------------------------------------------------------- workloads
def pod_templates(doc: dict) -> list[tuple[str, dict]]:
    """(where, {metadata, spec}) of every pod (template) a manifest creates."""
    kind, spec = doc["kind"], doc.get("spec") or {}
    if kind in POD_TEMPLATE_KINDS:
        return [("spec.template", spec["template"])]
    if kind == "CronJob":
        return [("spec.jobTemplate.spec.template", spec["jobTemplate"]["spec"]["template"])]
    if kind == "Pod":
        return [("pod", doc)]
    if kind == "TApp":
        pods = [("spec.template", spec["template"])]
        pods += [(f"spec.templatePool.{n}", t) for n, t in (spec.get("templatePool") or {}).items()]
        return pods
    return []


def is_test_pod(doc: dict) -> bool:
    hook = ((doc.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return doc["kind"] == "Pod" and "test" in hook.split(",")


def container_problems(where: str, c: dict, psc: dict, probes: bool) -> list[str]:
    problems = []
    csc = c.get("securityContext") or {}
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{where}: capabilities do not drop ALL")
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")
    res = c.get("resources") or {}
    problems += [
        f"{where}: resources.{section}.{resource} missing"
        for section in ("requests", "limits")
        for resource in ("cpu", "memory")
        if resource not in (res.get(section) or {})
    ]
    image = c.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        problems.append(f"{where}: image {image!r} has no pinned tag")
    if probes:
        problems += [f"{where}: {p} missing" for p in ("livenessProbe", "readinessProbe") if p not in c]
    return problems


def workload_problems(doc: dict) -> list[str]:
    problems = []
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    # Jobs and helm test pods run to completion: no probes expected.
    probes = doc["kind"] not in {"Job", "CronJob"} and not is_test_pod(doc)
    missing = REQUIRED_LABELS - set(doc["metadata"].get("labels") or {})
    if missing:
        problems.append(f"{name}: labels missing {sorted(missing)}")
    for where, pod in pod_templates(doc):
        prefix = f"{name} {where}"
        missing = REQUIRED_LABELS - set((pod.get("metadata") or {}).get("labels") or {})
        if missing:
            problems.append(f"{prefix}: pod labels missing {sorted(missing)}")
        spec = pod["spec"]
        psc = spec.get("securityContext") or {}
        problems += [f"{prefix}: pod securityContext.{k} not set" for k in ("runAsUser", "fsGroup") if k not in psc]
        for c in spec.get("containers", []):
            problems += container_problems(f"{prefix} container {c['name']}", c, psc, probes)
        for c in spec.get("initContainers", []):
            problems += container_problems(f"{prefix} initContainer {c['name']}", c, psc, False)
    return problems


def pod_label_sets(docs: list) -> list[dict]:
    return [(pod.get("metadata") or {}).get("labels") or {} for d in docs for _, pod in pod_templates(d)]


def images(docs: list) -> list[str]:
    found = []
    for doc in docs:
        for _, pod in pod_templates(doc):
            for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []):
                found.append(c["image"])
    return found


def gpu_requests(docs: list, resource: str) -> list[int]:
    counts = []
    for doc in docs:
        for _, pod in pod_templates(doc):
            for c in pod["spec"].get("containers", []):
                limits = (c.get("resources") or {}).get("limits") or {}
                if resource in limits:
                    counts.append(int(limits[resource]))
    return counts


# ============================================================================= tests
def test_charts_found():
    expected = {
        "tapp/tapp-controller",
        "tapp/tapp-example",
        "bigdata/zookeeper",
        "bigdata/kafka",
        "bigdata/spark",
        "bigdata/flink",
        "bigdata/hdfs",
        "bigdata/bigdata-suite",
        "ai/jupyterlab",
        "ai/mlflow",
        "ai/ray",
        "ai/vllm",
        "ai/triton",
        "ai/ai-suite",
    }
    assert expected <= set(CHARTS)


def test_no_dependency_artifacts_in_repo():
    leftovers = [
        p
        for p in CATALOG.rglob("*")
        if p.name in {"Chart.lock", "tmpcharts"} or p.suffix == ".tgz" or (p.name == "charts" and p.is_dir())
    ]
    assert not leftovers, f"build artifacts in the repository: {leftovers}"


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_metadata(chart):
    meta = chart_meta(chart)
    name = chart.rsplit("/", 1)[-1]
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == name
    assert SEMVER.match(meta["version"]), meta["version"]
    assert meta.get("appVersion")
    assert meta.get("kubeVersion", "").startswith(">=")
    assert meta.get("description") and meta.get("keywords")
    assert meta.get("home", "").startswith("https://")
    assert any(m.get("name") == "AppMarket" and "@" in m.get("email", "") for m in meta.get("maintainers", []))
    icon = meta.get("icon", "")
    if icon.startswith("data:image/svg+xml;base64,"):
        assert base64.b64decode(icon.split(",", 1)[1]).lstrip().startswith(b"<svg")
    else:
        assert icon.startswith("https://"), "icon must be a data: SVG or an https URL"


@pytest.mark.parametrize("chart", CHARTS)
def test_appmarket_annotations(chart):
    meta = chart_meta(chart)
    ann = meta.get("annotations") or {}
    keys = {k for k in ann if k.startswith("appmarket.io/")}
    assert keys <= ANNOTATIONS, f"unknown annotations {keys - ANNOTATIONS}"
    assert keys >= REQUIRED_ANNOTATIONS, f"missing annotations {REQUIRED_ANNOTATIONS - keys}"
    assert all(isinstance(v, str) for v in ann.values()), "annotation values must be strings"
    assert ann["appmarket.io/display-name"].strip()
    assert ann["appmarket.io/category"] in CATEGORIES
    arches = ann["appmarket.io/architectures"].split(",")
    assert arches and set(arches) <= ARCHITECTURES and len(set(arches)) == len(arches), arches

    gpu = ann["appmarket.io/gpu"]
    assert gpu in {"none", "optional", "required"}
    if gpu == "none":
        assert "appmarket.io/gpu-resource" not in ann and "appmarket.io/gpu-count" not in ann
    else:
        assert re.match(r"^[a-z0-9.-]+/[a-zA-Z0-9._-]+$", ann["appmarket.io/gpu-resource"])
    if gpu == "required":
        assert re.match(r"^[1-9][0-9]*$", ann["appmarket.io/gpu-count"])
    else:
        assert "appmarket.io/gpu-count" not in ann

    params = json.loads(ann["appmarket.io/featured-parameters"])
    assert isinstance(params, list) and params and all(isinstance(p, str) for p in params)
    assert len(params) == len(set(params))
    schema = chart_schema(chart)
    for dotted in params:
        node = schema_node(schema, dotted)
        assert node is not None, f"featured parameter {dotted} is not in values.schema.json"
        assert node.get("description"), f"featured parameter {dotted} has no description"

    deps = meta.get("dependencies") or []
    if deps:  # umbrella suite
        assert ann.get("appmarket.io/suite") in SUITES
        assert "appmarket.io/suites" not in ann
        members = json.loads(ann["appmarket.io/suite-members"])
        assert members == [d["name"] for d in deps], "suite-members must list the dependencies in install order"
        for dep in deps:
            assert dep["repository"] == f"file://../{dep['name']}"
            assert dep["condition"] == f"{dep['name']}.enabled"
            member_dir = (CATALOG / chart).parent / dep["name"]
            member = load_yaml(member_dir / "Chart.yaml")
            assert member["version"] == dep["version"], f"{dep['name']} version drifted from the umbrella"
            suites = member["annotations"].get("appmarket.io/suites", "").split(",")
            assert ann["appmarket.io/suite"] in suites, (
                f"{dep['name']} does not declare suite {ann['appmarket.io/suite']}"
            )
            member_arches = set(member["annotations"]["appmarket.io/architectures"].split(","))
            assert set(arches) <= member_arches, f"suite claims architectures {dep['name']} lacks"
    else:
        assert "appmarket.io/suite" not in ann and "appmarket.io/suite-members" not in ann
        if "appmarket.io/suites" in ann:
            assert set(ann["appmarket.io/suites"].split(",")) <= SUITES


def walk_values(values: dict, schema: dict, path: str = ""):
    """Yield (dotted path, value, schema node) for every parameter the schema describes."""
    for key, value in values.items():
        dotted = f"{path}{key}"
        node = (schema.get("properties") or {}).get(key)
        yield dotted, value, node
        if node is not None and isinstance(value, dict) and "properties" in node:
            yield from walk_values(value, node, dotted + ".")


@pytest.mark.parametrize("chart", CHARTS)
def test_values_schema(chart):
    schema = chart_schema(chart)
    values = load_yaml(CATALOG / chart / "values.yaml")
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema.get("$schema", "").startswith("http://json-schema.org/draft-07/schema")
    errors = [
        f"{'.'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(values)
    ]
    assert not errors, errors
    for dotted, value, node in walk_values(values, schema):
        assert node is not None, f"{dotted} is not described in values.schema.json"
        assert node.get("description"), f"{dotted} has no description"
        assert node.get("type"), f"{dotted} has no type"
        if not (isinstance(value, dict) and "properties" in node):
            assert "default" in node and node["default"] == value, f"{dotted}: schema default differs from values.yaml"
        last = dotted.rsplit(".", 1)[-1]
        if (
            SECRET_KEY.search(last)
            and "string" in (node["type"] if isinstance(node["type"], list) else [node["type"]])
            and not last.lower().startswith("existing")
        ):
            assert node.get("writeOnly") is True or node.get("format") == "password", f"secret {dotted} not marked"


@pytest.mark.parametrize("chart", CHARTS)
def test_values_commented(chart):
    """Every parameter key in values.yaml has a comment line right above it."""
    text = (CATALOG / chart / "values.yaml").read_text()
    lines = text.splitlines()
    schema = chart_schema(chart)

    def walk(node, schema_node_):
        for key_node, value_node in node.value:
            key = key_node.value
            above = lines[key_node.start_mark.line - 1].strip() if key_node.start_mark.line else ""
            assert above.startswith("#"), (
                f"{chart}: values.yaml key {key!r} (line {key_node.start_mark.line + 1}) has no comment"
            )
            sub = (schema_node_.get("properties") or {}).get(key) or {}
            if isinstance(value_node, yaml.MappingNode) and "properties" in sub:
                walk(value_node, sub)

    walk(yaml.compose(text), schema)


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_files(chart):
    root = CATALOG / chart
    for rel in (
        "README.md",
        "values.yaml",
        "values.schema.json",
        "templates/NOTES.txt",
        "templates/_helpers.tpl",
        "templates/tests/test-connection.yaml",
    ):
        assert (root / rel).is_file(), f"{rel} missing"
    readme = (root / "README.md").read_text()
    assert "## Parameters" in readme
    for key in load_yaml(root / "values.yaml"):
        assert f"`{key}" in readme, f"README parameter table lacks {key}"
    helpers = (root / "templates/_helpers.tpl").read_text()
    for label in sorted(REQUIRED_LABELS):
        assert label in helpers, f"_helpers.tpl does not define the {label} label"


@pytest.mark.parametrize("chart", CHARTS)
def test_helm_lint(helm_runs, chart):
    failures = {v: r.lint_out for v, r in variants_of(helm_runs, chart).items() if r.lint_rc not in (None, 0)}
    assert not failures, "\n".join(f"--- {v}\n{out}" for v, out in failures.items())


@pytest.mark.parametrize("chart", CHARTS)
def test_helm_template_validates(helm_runs, chart):
    runs = variants_of(helm_runs, chart)
    failed = {v: r.template_out for v, r in runs.items() if r.template_rc != 0}
    assert not failed, "\n".join(f"--- {v}\n{out}" for v, out in failed.items())
    problems = []
    for variant, run in runs.items():
        assert run.docs, f"{variant}: nothing rendered"
        for doc in run.docs:
            problems += [f"[{variant}] {doc['kind']}/{doc['metadata']['name']}: {e}" for e in validation_errors(doc)]
    assert not problems, "\n".join(problems[:50])


@pytest.mark.parametrize("chart", CHARTS)
def test_workload_conventions(helm_runs, chart):
    problems = []
    for variant, run in variants_of(helm_runs, chart).items():
        for doc in run.docs:
            problems += [f"[{variant}] {p}" for p in workload_problems(doc)]
            if doc["kind"] == "Service" and doc["spec"].get("selector"):
                selector = doc["spec"]["selector"]
                if not any(selector.items() <= labels.items() for labels in pod_label_sets(run.docs)):
                    problems.append(f"[{variant}] Service/{doc['metadata']['name']} selects no rendered pod")
    assert not problems, "\n".join(problems[:50])


@pytest.mark.parametrize("chart", CHARTS)
def test_helm_test_hook(helm_runs, chart):
    docs = helm_runs[(chart, "default")].docs
    tests = [d for d in docs if is_test_pod(d)]
    assert tests, "no Pod with helm.sh/hook: test"
    assert all(d["spec"].get("restartPolicy") == "Never" for d in tests)


@pytest.mark.parametrize("chart", CHARTS)
def test_image_registry_override(helm_runs, chart):
    default_images = images(helm_runs[(chart, "default")].docs)
    assert default_images
    for image in default_images:
        assert "." in image.split("/", 1)[0], f"{image} does not name its registry"
    overridden = images(helm_runs[(chart, "registry")].docs)
    wrong = [i for i in overridden if not i.startswith(TEST_REGISTRY + "/")]
    assert not wrong, f"global.imageRegistry not applied to {wrong}"


@pytest.mark.parametrize("chart", CHARTS)
def test_gpu_annotation_matches_rendering(helm_runs, chart):
    ann = chart_meta(chart)["annotations"]
    gpu = ann["appmarket.io/gpu"]
    runs = variants_of(helm_runs, chart)
    if gpu == "none":
        for variant, run in runs.items():
            assert not gpu_requests(run.docs, "nvidia.com/gpu"), f"{variant} requests GPUs but gpu=none"
        return
    resource = ann["appmarket.io/gpu-resource"]
    requested = [n for run in runs.values() for n in gpu_requests(run.docs, resource)]
    assert requested, f"no variant requests {resource}"
    if gpu == "required":
        default = gpu_requests(runs["default"].docs, resource)
        assert default and min(default) >= int(ann["appmarket.io/gpu-count"])
    else:
        assert not gpu_requests(runs["default"].docs, resource) or chart.endswith("-suite"), (
            "optional GPU must be off by default"
        )


def test_tapp_crd_is_structural():
    crd = tapp_crd()
    assert crd["spec"]["group"] == "apps.tkestack.io" and crd["spec"]["names"]["kind"] == "TApp"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    assert "status" in version["subresources"]
    schema = version["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]["properties"]
    for key in (
        "replicas",
        "selector",
        "template",
        "templatePool",
        "templates",
        "statuses",
        "defaultTemplateName",
        "updateStrategy",
        "volumeClaimTemplates",
        "serviceName",
        "forceDeletePod",
        "autoDeleteUnusedTemplate",
    ):
        assert key in spec, f"TApp spec schema lacks {key}"
    assert set(spec["statuses"]["additionalProperties"]["enum"]) == {"Running", "Killed"}
    assert {"template", "maxUnavailable", "forceUpdate"} <= set(spec["updateStrategy"]["properties"])

    def check(node, path):
        if not isinstance(node, dict):
            return
        if not (node.get("x-kubernetes-int-or-string") or node.get("type")):
            raise AssertionError(f"{path}: no type (not a structural schema)")
        for key, sub in (node.get("properties") or {}).items():
            check(sub, f"{path}.{key}")
        if isinstance(node.get("additionalProperties"), dict):
            check(node["additionalProperties"], f"{path}.*")
        if "items" in node:
            check(node["items"], f"{path}[]")

    check(schema, "openAPIV3Schema")
    # an instance status outside Running/Killed is rejected
    example = copy.deepcopy(
        {
            "apiVersion": "apps.tkestack.io/v1",
            "kind": "TApp",
            "metadata": {"name": "x"},
            "spec": {
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
                "statuses": {"0": "Paused"},
            },
        }
    )
    assert list(crd_validator(example).iter_errors(example)), "invalid instance status accepted"
