"""Sample objects and a chart for emulator and installer tests.

The chart has what makes helm's install path interesting: a CRD in `crds/` (installed and
waited for first), a custom resource of that CRD, and a Deployment whose readiness `--wait`
follows; values `replicas`, `image` and `message` let upgrades change something visible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
