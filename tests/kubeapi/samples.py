"""Sample objects and a chart for emulator and installer tests.

`make_workloads_chart` writes a chart with one of every kind the release health gate reads
(Deployment, StatefulSet, DaemonSet, Job, and a TApp with tkestack's CRD from the catalog).
The chart has what makes helm's install path interesting: a CRD in `crds/` (installed and
waited for first), a custom resource of that CRD, and a Deployment whose readiness `--wait`
follows; values `replicas`, `image` and `message` let upgrades change something visible.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.helm import REPO, helm_binary

DEPLOYMENT: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                 {"name": "app", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}],
                  "ports": [{"containerPort": 80}]}]}}},
}
CRD: dict[str, Any] = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {"size": {"type": "integer"},
                                                                         "color": {"type": "string"}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}


def make_chart(root: Path) -> Path:
    """Write `root/demo`: CRD (crds/), ConfigMap, Deployment, Service and a custom resource."""
    chart = root / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: '1.0'\n")
    (chart / "values.yaml").write_text("replicas: 2\nimage: nginx:1.27\nmessage: hello\n")
    (chart / "crds" / "widgets.yaml").write_text(json.dumps(
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **CRD}))
    (chart / "templates" / "all.yaml").write_text("""\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ .Release.Name }}-config"}
data: {message: {{ .Values.message | quote }}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: "{{ .Release.Name }}-web"}}
  template:
    metadata: {labels: {app: "{{ .Release.Name }}-web"}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          env: [{name: MESSAGE, value: {{ .Values.message | quote }}}]
---
apiVersion: v1
kind: Service
metadata: {name: "{{ .Release.Name }}-web"}
spec:
  selector: {app: "{{ .Release.Name }}-web"}
  ports: [{port: 80}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: "{{ .Release.Name }}-widget"}
spec: {size: 3, color: blue}
""")
    return chart


TAPP: dict[str, Any] = {
    "apiVersion": "apps.tkestack.io/v1", "kind": "TApp",
    "metadata": {"name": "game", "labels": {"app": "game"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "game"}},
             "template": {"metadata": {"labels": {"app": "game"}},
                          "spec": {"containers": [{"name": "game", "image": "nginx:1.27"}]}}},
}


@cache
def tapp_crd() -> dict[str, Any]:
    """The TApp CRD exactly as the curated tapp-controller chart renders it."""
    chart = REPO / "catalog" / "tapp" / "tapp-controller"
    out = subprocess.run([helm_binary(), "template", "x", str(chart), "--show-only", "templates/crd.yaml"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    crd: dict[str, Any] = yaml.safe_load(out)
    return crd


def make_workloads_chart(root: Path, name: str = "fleet") -> Path:
    """Write `root/<name>`: the TApp CRD (crds/), a Deployment, StatefulSet, DaemonSet, Job and TApp."""
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: '1.0'\n")
    (chart / "values.yaml").write_text("replicas: 2\nimage: nginx:1.27\n")
    (chart / "crds" / "tapps.yaml").write_text(json.dumps(tapp_crd()))
    pod = "spec: {containers: [{name: c, image: {{ .Values.image | quote }}}]}"
    docs = []
    for kind, api in (("Deployment", "apps/v1"), ("StatefulSet", "apps/v1"), ("DaemonSet", "apps/v1"),
                      ("TApp", "apps.tkestack.io/v1")):
        label = f"{{{{ .Release.Name }}}}-{kind.lower()}"
        replicas = "" if kind == "DaemonSet" else "  replicas: {{ .Values.replicas }}\n"
        service = "  serviceName: {{ .Release.Name }}\n" if kind == "StatefulSet" else ""
        docs.append(f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: \"{label}\"}}\nspec:\n{replicas}{service}"
                    f"  selector: {{matchLabels: {{app: \"{label}\"}}}}\n"
                    f"  template:\n    metadata: {{labels: {{app: \"{label}\"}}}}\n    {pod}\n")
    docs.append("apiVersion: batch/v1\nkind: Job\nmetadata: {name: \"{{ .Release.Name }}-job\"}\nspec:\n"
                "  template:\n    spec: {restartPolicy: Never, containers: [{name: c, image: busybox:1.36}]}\n")
    (chart / "templates" / "all.yaml").write_text("---\n".join(docs))
    return chart
