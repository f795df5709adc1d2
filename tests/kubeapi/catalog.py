"""Which resources exist (real v1.36 discovery plus registered CRDs) and which are emulated.

Discovery is generated from one table so that legacy (`/api`, `/apis/<g>/<v>`) and aggregated
(`apidiscovery.k8s.io/v2`) answers never disagree, and so a new CRD shows up in both at once.
Resources that appear in discovery but are not emulated stay visible (the server looks like a
real cluster) and answer 501.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kube-api"

#: (group, version, plural) of the built-in resources whose CRUD/watch the server emulates.
EMULATED: frozenset[tuple[str, str, str]] = frozenset(
    [("", "v1", p) for p in (
        "namespaces", "nodes", "configmaps", "secrets", "services", "serviceaccounts",
        "persistentvolumeclaims", "persistentvolumes", "pods", "endpoints", "events",
        "limitranges", "resourcequotas",
    )]
    + [("apps", "v1", p) for p in (
        "deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions",
    )]
    + [("batch", "v1", "jobs"), ("batch", "v1", "cronjobs")]
    + [("rbac.authorization.k8s.io", "v1", p) for p in (
        "roles", "rolebindings", "clusterroles", "clusterrolebindings",
    )]
    + [("networking.k8s.io", "v1", p) for p in ("ingresses", "ingressclasses", "networkpolicies")]
    + [
        ("policy", "v1", "poddisruptionbudgets"),
        ("autoscaling", "v2", "horizontalpodautoscalers"),
        ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        ("storage.k8s.io", "v1", "storageclasses"),
        ("scheduling.k8s.io", "v1", "priorityclasses"),
    ]
)
#: Subresources with generic behaviour; every other subresource answers 501.
EMULATED_SUBRESOURCES = frozenset({"status"})


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """One REST resource at one group version."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    emulated: bool = True
    crd: str = ""  # name of the defining CRD, "" for built-ins

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored per group+plural, whatever version they were written in."""
        return (self.group, self.plural)

    def has_subresource(self, name: str) -> bool:
        return any(s.name == name for s in self.subresources)


@dataclass
class _Group:
    name: str
    versions: list[str] = field(default_factory=list)  # preferred first


def _load_json(path: Path) -> JsonDict:
    data: JsonDict = json.loads(path.read_text())
    return data


def _from_discovery(group: str, version: str, doc: JsonDict) -> list[ResourceType]:
    entries = doc.get("resources", [])
    subs: dict[str, list[Subresource]] = {}
    for entry in entries:
        if "/" in entry["name"]:
            parent, sub = entry["name"].split("/", 1)
            subs.setdefault(parent, []).append(Subresource(
                sub, entry["kind"], tuple(entry.get("verbs", [])), entry.get("group"), entry.get("version"),
            ))
    out = []
    for entry in entries:
        if "/" in entry["name"]:
            continue
        plural = entry["name"]
        out.append(ResourceType(
            group=group, version=version, plural=plural,
            singular=entry.get("singularName") or entry["kind"].lower(), kind=entry["kind"],
            namespaced=entry["namespaced"], verbs=tuple(entry.get("verbs", [])),
            short_names=tuple(entry.get("shortNames", [])), categories=tuple(entry.get("categories", [])),
            subresources=tuple(subs.get(plural, [])), emulated=(group, version, plural) in EMULATED,
        ))
    return out


def version_priority(version: str) -> tuple[int, int, int]:
    """Kube-aware ordering (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other), as a sort key."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (3, 0, 0)
    stage = {"alpha": 2, "beta": 1, None: 0}[m[2]]
    return (stage, -int(m[1]), -int(m[3] or 0))


def crd_resource_types(crd: JsonDict) -> list[ResourceType]:
    """The resource types a CRD defines, one per served version."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out = []
    for ver in spec.get("versions", []):
        if not ver.get("served", True):
            continue
        subs = []
        if "status" in ver.get("subresources", {}):
            subs.append(Subresource("status", names["kind"], ("get", "patch", "update")))
        out.append(ResourceType(
            group=spec["group"], version=ver["name"], plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), kind=names["kind"],
            namespaced=namespaced,
            verbs=("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"),
            short_names=tuple(names.get("shortNames", [])), categories=tuple(names.get("categories", [])),
            subresources=tuple(subs), crd=crd["metadata"]["name"],
        ))
    return out


class Catalog:
    """Thread-safe resource table; CRDs are added and removed while the server runs."""

    def __init__(self, fixtures: Path = FIXTURES) -> None:
        self._lock = threading.RLock()
        self.fixtures = fixtures
        self._builtin_groups: list[_Group] = []
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._crds: dict[str, list[ResourceType]] = {}
        self._load_builtins()

    def _load_builtins(self) -> None:
        disc = self.fixtures / "discovery"
        self._builtin_groups.append(_Group("", ["v1"]))
        for rt in _from_discovery("", "v1", _load_json(disc / "api_v1.json")):
            self._types[("", "v1", rt.plural)] = rt
        for grp in _load_json(disc / "apis.json")["groups"]:
            preferred = grp["preferredVersion"]["version"]
            versions = [preferred] + [v["version"] for v in grp["versions"] if v["version"] != preferred]
            self._builtin_groups.append(_Group(grp["name"], versions))
            for ver in versions:
                path = disc / f"apis_{grp['name'].replace('.', '_')}_{ver}.json"
                if path.exists():
                    for rt in _from_discovery(grp["name"], ver, _load_json(path)):
                        self._types[(grp["name"], ver, rt.plural)] = rt

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def has_group_version(self, group: str, version: str) -> bool:
        return any(g.name == group and version in g.versions for g in self._groups())

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for (g, v, _), rt in self._types.items():
                if g == group and v == version and rt.kind == kind:
                    return rt
        return None

    def all_types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    # -- CRDs ------------------------------------------------------------------------------------
    def register_crd(self, crd: JsonDict) -> None:
        types = crd_resource_types(crd)
        with self._lock:
            self.unregister_crd(crd["metadata"]["name"])
            self._crds[crd["metadata"]["name"]] = types
            for rt in types:
                self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister_crd(self, name: str) -> None:
        with self._lock:
            for rt in self._crds.pop(name, []):
                self._types.pop((rt.group, rt.version, rt.plural), None)

    def crd_versions(self, name: str) -> list[ResourceType]:
        with self._lock:
            return list(self._crds.get(name, []))

    def _groups(self) -> list[_Group]:
        with self._lock:
            groups = [_Group(g.name, list(g.versions)) for g in self._builtin_groups]
            by_name = {g.name: g for g in groups}
            for types in self._crds.values():
                for rt in types:
                    grp = by_name.get(rt.group) or _Group(rt.group)
                    if rt.group not in by_name:
                        by_name[rt.group] = grp
                        groups.append(grp)
                    if rt.version not in grp.versions:
                        grp.versions.append(rt.version)
                        grp.versions.sort(key=version_priority)
            return groups

    def _types_in(self, group: str, version: str) -> list[ResourceType]:
        with self._lock:
            return [rt for (g, v, _), rt in self._types.items() if g == group and v == version]

    # -- discovery documents ---------------------------------------------------------------------
    def api_versions(self) -> JsonDict:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}

    def api_group_list(self) -> JsonDict:
        groups = []
        for grp in self._groups():
            if not grp.name:
                continue
            versions = [{"groupVersion": f"{grp.name}/{v}", "version": v} for v in grp.versions]
            groups.append({"name": grp.name, "versions": versions, "preferredVersion": versions[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> JsonDict | None:
        if not self.has_group_version(group, version):
            return None
        resources: list[JsonDict] = []
        for rt in self._types_in(group, version):
            entry: JsonDict = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                               "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in rt.subresources:
                sub_entry: JsonDict = {"name": f"{rt.plural}/{sub.name}", "singularName": "",
                                       "namespaced": rt.namespaced, "kind": sub.kind, "verbs": list(sub.verbs)}
                if sub.group is not None:
                    sub_entry["group"] = sub.group
                if sub.version is not None:
                    sub_entry["version"] = sub.version
                resources.append(sub_entry)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def aggregated(self, legacy: bool) -> JsonDict:
        """`apidiscovery.k8s.io/v2` APIGroupDiscoveryList for `/api` (legacy) or `/apis`."""
        items = []
        for grp in self._groups():
            if (grp.name == "") != legacy:
                continue
            versions = [{"version": v, "resources": [_agg_resource(rt) for rt in self._types_in(grp.name, v)],
                         "freshness": "Current"} for v in grp.versions]
            meta: JsonDict = {"creationTimestamp": None}
            if grp.name:
                meta["name"] = grp.name
            items.append({"metadata": meta, "versions": versions})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {}, "items": items}


def _agg_resource(rt: ResourceType) -> JsonDict:
    entry: JsonDict = {
        "resource": rt.plural, "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster", "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {"subresource": s.name,
             "responseKind": {"group": s.group or "", "version": s.version or "", "kind": s.kind},
             "verbs": list(s.verbs)}
            for s in rt.subresources
        ]
    return entry
