"""Defaults and the validation rules installers actually trip over (422 Invalid).

Not the whole of apiserver validation: names, labels, pod templates, selectors that must match
their template, immutable fields (a Deployment's selector, a Job's template, a Service's
clusterIP, immutable ConfigMaps/Secrets) and CRD structure. Enough that a broken chart fails
here the way it fails on a real cluster.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from typing import Any

from .catalog import ResourceType
from .selectors import labels_match, selector_from_label_selector

JsonDict = dict[str, Any]
Causes = list[tuple[str, str]]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS_LABEL_KINDS = {"Namespace", "Service"}
_PATH_SEGMENT_KINDS = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
_TEMPLATED = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_ip_counter = itertools.count(10)


def _name_causes(kind: str, name: str) -> Causes:
    if kind in _PATH_SEGMENT_KINDS:
        bad = name in (".", "..") or "/" in name or "%" in name
        return [("metadata.name", f'Invalid value: "{name}": may not contain "/" or "%"')] if bad else []
    pattern, limit = (_LABEL, 63) if kind in _DNS_LABEL_KINDS else (_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.match(name):
        what = "RFC 1123 label" if limit == 63 else "RFC 1123 subdomain"
        return [("metadata.name", f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                 "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")]
    return []


def _label_causes(labels: Any, field: str) -> Causes:
    causes: Causes = []
    if not isinstance(labels, dict):
        return causes
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (prefix and not _SUBDOMAIN.match(prefix)) or len(name) > 63 or not _QUALIFIED.match(name):
            causes.append((field, f'Invalid value: "{key}": name part must consist of alphanumeric characters'))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append((f"{field}", f'Invalid value: "{value}": a valid label must be an empty string or '
                           "consist of alphanumeric characters, '-', '_' or '.'"))
    return causes


def _pod_spec_causes(spec: Any, field: str) -> Causes:
    if not isinstance(spec, dict):
        return [(field, "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [(f"{field}.containers", "Required value")]
    causes: Causes = []
    for index, container in enumerate(containers):
        where = f"{field}.containers[{index}]"
        if not container.get("name"):
            causes.append((f"{where}.name", "Required value"))
        elif not _LABEL.match(container["name"]):
            causes.append((f"{where}.name", f'Invalid value: "{container["name"]}"'))
        if not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
    return causes


def _template_causes(kind: str, spec: JsonDict) -> Causes:
    template = spec.get("template") or {}
    causes = _pod_spec_causes(template.get("spec"), "spec.template.spec")
    causes += _label_causes(template.get("metadata", {}).get("labels"), "spec.template.metadata.labels")
    selector = spec.get("selector")
    if kind == "Job" and selector is None:
        return causes
    if not selector:
        return [*causes, ("spec.selector", "Required value")]
    if not labels_match(selector_from_label_selector(selector), template):
        causes.append(("spec.template.metadata.labels",
                       "Invalid value: selector does not match template labels"))
    return causes


def _crd_causes(obj: JsonDict) -> Causes:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    causes: Causes = []
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append((f"spec.names.{field}", "Required value"))
    if not spec.get("group"):
        causes.append(("spec.group", "Required value"))
    elif obj["metadata"]["name"] != f"{names.get('plural')}.{spec['group']}":
        causes.append(("metadata.name", "Invalid value: must be spec.names.plural+\".\"+spec.group"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", "Unsupported value: must be Namespaced or Cluster"))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("spec.versions", "Required value"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
    return causes


def _data_causes(obj: JsonDict) -> Causes:
    causes: Causes = []
    for field in ("data", "binaryData", "stringData"):
        for key, value in (obj.get(field) or {}).items():
            if not _CONFIG_KEY.match(key):
                causes.append((f"{field}[{key}]", f'Invalid value: "{key}": a valid config key must consist of '
                               "alphanumeric characters, '-', '_' or '.'"))
            if (obj.get("kind") == "Secret" and field == "data") or field == "binaryData":
                try:
                    base64.b64decode(str(value), validate=True)
                except binascii.Error:
                    causes.append((f"{field}[{key}]", "Invalid value: illegal base64 data"))
    return causes


def validate(rt: ResourceType, obj: JsonDict) -> Causes:
    """422 causes for a new object state; empty when it is acceptable."""
    meta = obj.get("metadata", {})
    causes = _name_causes(rt.kind, meta.get("name", ""))
    causes += _label_causes(meta.get("labels"), "metadata.labels")
    if meta.get("annotations") is not None and not isinstance(meta["annotations"], dict):
        causes.append(("metadata.annotations", "Invalid value: must be a map"))
    raw_spec = obj.get("spec")
    spec: JsonDict = raw_spec if isinstance(raw_spec, dict) else {}
    if rt.group in ("", "apps", "batch") and rt.kind in _TEMPLATED:
        causes += _template_causes(rt.kind, spec)
    elif rt.kind == "Pod" and not rt.crd:
        causes += _pod_spec_causes(obj.get("spec"), "spec")
    elif rt.kind == "CustomResourceDefinition" and not rt.crd:
        causes += _crd_causes(obj)
    elif rt.kind in ("ConfigMap", "Secret") and not rt.crd:
        causes += _data_causes(obj)
    elif (rt.kind == "Service" and not rt.crd and spec.get("type") != "ExternalName"
          and not spec.get("ports") and spec.get("clusterIP") != "None"):
        causes.append(("spec.ports", "Required value"))
    return causes


def _immutable(field: str) -> tuple[str, str]:
    return (field, "Invalid value: field is immutable")


def immutable_causes(rt: ResourceType, old: JsonDict, new: JsonDict) -> Causes:
    """Fields apiserver refuses to change on update."""
    if rt.crd:
        return []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    causes: Causes = []
    workloads = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
    if rt.kind in workloads and old_spec.get("selector") != new_spec.get("selector"):
        causes.append(_immutable("spec.selector"))
    if rt.kind == "Job" and old_spec.get("template") != new_spec.get("template"):
        causes.append(_immutable("spec.template"))
    if rt.kind == "StatefulSet":
        allowed = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                   "minReadySeconds"}
        if {k: v for k, v in old_spec.items() if k not in allowed} != {
                k: v for k, v in new_spec.items() if k not in allowed}:
            causes.append(("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', "
                           "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                           "and 'minReadySeconds' are forbidden"))
    if rt.kind == "Service" and new_spec.get("clusterIP") not in (None, "", old_spec.get("clusterIP")):
        causes.append(_immutable("spec.clusterIP"))
    if rt.kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for field in ("data", "binaryData", "immutable"):
            if old.get(field) != new.get(field):
                causes.append(_immutable(field))
    if rt.kind == "CustomResourceDefinition" and old_spec.get("scope") != new_spec.get("scope"):
        causes.append(_immutable("spec.scope"))
    return causes


def apply_defaults(rt: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
    """The few server-side defaults clients observe (Service IPs, namespace phase, Secret data)."""
    if rt.crd:
        return
    spec = obj.setdefault("spec", {}) if rt.kind in ("Service", "Deployment", "StatefulSet") else None
    if rt.kind == "Service" and spec is not None:
        spec.setdefault("type", "ClusterIP")
        old_ip = (old or {}).get("spec", {}).get("clusterIP")
        if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
            n = next(_ip_counter)
            spec["clusterIP"] = old_ip or f"10.96.{n // 250}.{n % 250 + 1}"
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    elif rt.kind in ("Deployment", "StatefulSet") and spec is not None:
        spec.setdefault("replicas", 1)
    elif rt.kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if not obj["metadata"].get("deletionTimestamp"):
            obj["status"] = {"phase": "Active"}
    elif rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        if not data:
            obj.pop("data")
