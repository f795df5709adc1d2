"""REST semantics over the store: create, get, list, update, patch, apply, delete.

This is where apiserver's object rules live: system metadata (uid, resourceVersion, generation,
creationTimestamp, managedFields), optimistic concurrency (409 on a stale resourceVersion),
status-subresource separation, no-op writes that keep their resourceVersion, finalizers and
deletion propagation, dry-run, and unknown-field handling per `fieldValidation`.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import errors
from .apply import FieldManager, now_rfc3339
from .catalog import Catalog, ResourceType
from .errors import ApiError
from .patching import json_patch, merge_patch, strategic_merge
from .schema import Node, OpenApiV2, crd_schema, prune
from .selectors import labels_match, parse_field_selector, parse_label_selector
from .store import Store
from .validation import apply_defaults, immutable_causes, validate

JsonDict = dict[str, Any]
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")
_NO_GENERATION = {"ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "Role", "RoleBinding",
                  "ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "Lease"}
_PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


@dataclass
class Call:
    """One request against one resource type, already routed."""

    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        return self.query.get("fieldManager") or self.user_agent.split("/")[0] or "unknown"


def _strip_for_compare(obj: JsonDict) -> JsonDict:
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)  # a re-applied identical config is still a no-op
    return out


class Registry:
    """Object semantics shared by every resource type."""

    def __init__(self, store: Store, catalog: Catalog, api: OpenApiV2) -> None:
        self.store = store
        self.catalog = catalog
        self.api = api
        self.fields = FieldManager(api)
        self.propagation: dict[str, str] = {}  # uid of a deleted owner -> policy, read by the GC

    # -- helpers ---------------------------------------------------------------------------------
    def schema_for(self, rt: ResourceType) -> Node:
        if rt.crd:
            crd = self.store.get(CRD_KEY, "", rt.crd)
            return crd_schema(crd, rt.version) if crd else None
        return self.api.root(rt.group, rt.version, rt.kind)

    @staticmethod
    def present(rt: ResourceType, obj: JsonDict) -> JsonDict:
        return {"apiVersion": rt.api_version, "kind": rt.kind, **{k: v for k, v in obj.items()
                                                                  if k not in ("apiVersion", "kind")}}

    def _existing(self, call: Call) -> JsonDict:
        obj = self.store.get(call.rt.storage_key, call.namespace, call.name)
        if obj is None:
            raise errors.not_found(call.rt.group, call.rt.plural, call.name)
        return obj

    def _check_namespace(self, call: Call) -> None:
        if not call.rt.namespaced:
            return
        ns = self.store.get(NS_KEY, "", call.namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", call.namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{call.rt.plural} \"{call.name}\" is forbidden: unable to create new "
                           f"content in namespace {call.namespace} because it is being terminated")

    def _check_identity(self, call: Call, obj: Any) -> JsonDict:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        if obj.get("kind") not in (None, call.rt.kind) or obj.get("apiVersion") not in (None, call.rt.api_version):
            raise errors.bad_request(f"the API version in the data ({obj.get('apiVersion')}) and kind "
                                     f"({obj.get('kind')}) do not match the expected {call.rt.api_version} "
                                     f"{call.rt.kind}")
        meta = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = meta
        if call.rt.namespaced and meta.get("namespace") not in (None, "", call.namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        if call.name and meta.get("name") not in (None, "", call.name):
            raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                     f"the URL ({call.name})")
        if call.rt.namespaced:
            meta["namespace"] = call.namespace
        else:
            meta.pop("namespace", None)
        return obj

    def _unknown_fields(self, call: Call, obj: JsonDict, node: Node) -> None:
        found = self.api.unknown_fields(obj, node) if node is not None else []
        if not found:
            return
        mode = call.query.get("fieldValidation", "Warn")
        if mode == "Strict":
            detail = ", ".join(f'unknown field "{f}"' for f in found)
            raise errors.bad_request(f"strict decoding error: {detail}")
        if mode == "Warn":
            call.warnings.extend(f'unknown field "{f}"' for f in found)
        prune(obj, found)

    # -- reads -----------------------------------------------------------------------------------
    def get(self, call: Call) -> JsonDict:
        return self.present(call.rt, self._existing(call))

    def matcher(self, call: Call) -> Any:
        labels = parse_label_selector(call.query.get("labelSelector"))
        fields = parse_field_selector(call.query.get("fieldSelector"), call.rt.kind)
        return lambda obj: labels_match(labels, obj) and fields(obj)

    def list(self, call: Call) -> JsonDict:
        match = self.matcher(call)
        with self.store.lock:
            rv = self.store.rv
            items = [self.present(call.rt, o) for o in self.store.select(call.rt.storage_key, call.namespace or None)
                     if match(o)]
        start = 0
        if token := call.query.get("continue"):
            try:
                after = tuple(json.loads(bytes.fromhex(token)))
            except ValueError:
                raise errors.bad_request("invalid continue token") from None
            start = next((i for i, o in enumerate(items) if _okey(o) > after), len(items))
        meta: JsonDict = {"resourceVersion": str(rv)}
        limit = int(call.query.get("limit") or 0)
        page = items[start:start + limit] if limit > 0 else items[start:]
        if limit > 0 and start + limit < len(items):
            meta["continue"] = json.dumps(list(_okey(page[-1]))).encode().hex()
            meta["remainingItemCount"] = len(items) - start - limit
        return {"kind": f"{call.rt.kind}List", "apiVersion": call.rt.api_version, "metadata": meta, "items": page}

    # -- writes ----------------------------------------------------------------------------------
    def create(self, call: Call, body: Any) -> tuple[int, JsonDict]:
        if call.subresource:
            raise errors.not_implemented(f"create on subresource {call.rt.plural}/{call.subresource}")
        obj = self._check_identity(call, body)
        meta = obj["metadata"]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(call.rt.group, call.rt.kind, "",
                                     [("metadata.name", "Required value: name or generateName is required")])
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        call.name = meta["name"]
        with self.store.lock:
            self._check_namespace(call)
            if self.store.get(call.rt.storage_key, call.namespace, call.name) is not None:
                raise errors.already_exists(call.rt.group, call.rt.plural, call.name)
            return 201, self._finish(call, None, obj, applied=False)

    def update(self, call: Call, body: Any) -> tuple[int, JsonDict]:
        obj = self._check_identity(call, body)
        with self.store.lock:
            old = self._existing(call)
            return 200, self._finish(call, old, obj, applied=False)

    def patch(self, call: Call, content_type: str, raw: bytes) -> tuple[int, JsonDict]:
        ctype = content_type.split(";", maxsplit=1)[0].strip()
        if ctype not in _PATCH_TYPES:
            if ctype.startswith("application/apply-patch"):
                raise errors.not_implemented(f"apply patches encoded as {ctype}")
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                           f"accepted media types include: {', '.join(sorted(_PATCH_TYPES))}")
        if ctype == "application/strategic-merge-patch+json" and call.rt.crd:
            raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources")
        try:
            body = yaml.safe_load(raw) if ctype.endswith("yaml") else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from None
        with self.store.lock:
            if ctype == "application/apply-patch+yaml":
                return self._apply(call, body)
            old = self._existing(call)
            view = self.present(call.rt, old)
            if ctype == "application/json-patch+json":
                new = json_patch(view, body)
            elif ctype == "application/merge-patch+json":
                new = merge_patch(view, body)
            else:
                new = strategic_merge(view, body, self.schema_for(call.rt), self.api)
            return 200, self._finish(call, old, self._check_identity(call, new), applied=False)

    def _apply(self, call: Call, body: Any) -> tuple[int, JsonDict]:
        if "fieldManager" not in call.query:
            raise errors.invalid("meta.k8s.io", "PatchOptions", "",
                                 [("fieldManager", "Required value: is required for apply patch")])
        config = self._check_identity(call, body)
        if not config.get("apiVersion") or not config.get("kind"):
            raise errors.bad_request("apiVersion and kind must be set in an apply configuration")
        node = self.schema_for(call.rt)
        self._unknown_fields(call, config, node)
        old = self.store.get(call.rt.storage_key, call.namespace, call.name)
        if old is None:
            if call.subresource:
                raise errors.not_found(call.rt.group, call.rt.plural, call.name)
            self._check_namespace(call)
            old_view: JsonDict = {"metadata": {"name": call.name}}
        else:
            old_view = self.present(call.rt, old)
        force = call.query.get("force") in ("true", "1")
        skip_status = call.rt.has_subresource("status") and call.subresource != "status"
        merged = self.fields.apply(old_view, config, node, manager=call.manager, force=force,
                                   api_version=call.rt.api_version, skip_status=skip_status)
        return (200 if old else 201), self._finish(call, old, merged, applied=True)

    def _finish(self, call: Call, old: JsonDict | None, new: JsonDict, *, applied: bool) -> JsonDict:
        """Common tail of every write: metadata, status rules, validation, no-op check, store."""
        rt, node = call.rt, self.schema_for(call.rt)
        new = self._carry_over(call, old, new, applied) if old is not None else self._stamp_new(rt, new, applied)
        if not applied and call.subresource != "status":
            self._unknown_fields(call, new, node)
        apply_defaults(rt, new, old)
        causes = validate(rt, new) + (immutable_causes(rt, old, new) if old else [])
        if causes:
            raise errors.invalid(rt.group, rt.kind, call.name, causes)
        if rt.kind not in _NO_GENERATION or rt.crd:
            def spec(obj: JsonDict) -> JsonDict:
                return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
            bump = 1 if old is None or spec(new) != spec(old) else 0
            new["metadata"]["generation"] = (old or {}).get("metadata", {}).get("generation", 0) + bump
        if not applied:
            self.fields.record_update(old, new, node, manager=call.manager, api_version=rt.api_version,
                                      subresource=call.subresource)
        return self._persist(call, old, self.present(rt, new))

    def _carry_over(self, call: Call, old: JsonDict, new: JsonDict, applied: bool) -> JsonDict:
        """Check the resourceVersion precondition; keep what clients cannot change on update."""
        rt, meta, old_meta = call.rt, new["metadata"], old["metadata"]
        expected = meta.get("resourceVersion")
        if expected and expected != old_meta["resourceVersion"]:
            raise errors.conflict(rt.group, rt.plural, call.name, "the object has been modified; please apply "
                                  "your changes to the latest version and try again")
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                    "resourceVersion"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if not applied and (call.subresource or not isinstance(meta.get("managedFields"), list)):
            meta["managedFields"] = old_meta.get("managedFields", [])  # else the client set them explicitly
        if call.subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            new["status"] = status
        elif rt.has_subresource("status"):
            new.pop("status", None)
            if "status" in old:
                new["status"] = old["status"]
        return new

    @staticmethod
    def _stamp_new(rt: ResourceType, new: JsonDict, applied: bool) -> JsonDict:
        meta = new["metadata"]
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        meta.pop("resourceVersion", None)
        if not applied:
            meta.pop("managedFields", None)
        if rt.has_subresource("status") and rt.kind != "Namespace":
            new.pop("status", None)
        return new

    def _persist(self, call: Call, old: JsonDict | None, new: JsonDict) -> JsonDict:
        rt, meta = call.rt, new["metadata"]
        if old is not None and _strip_for_compare(new) == _strip_for_compare(self.present(rt, old)):
            return self.present(rt, old)  # no-op: apiserver keeps the resourceVersion
        if call.dry_run:
            return new
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers"):
            removed = self.store.remove(rt.storage_key, call.namespace, call.name)
            self._after_delete(rt, removed)
            return self.present(rt, removed or new)
        stored = self.store.put(rt.storage_key, new)
        if rt.kind == "CustomResourceDefinition" and not rt.crd:
            self.catalog.register_crd(stored)
        return self.present(rt, stored)

    # -- deletes ---------------------------------------------------------------------------------
    def delete(self, call: Call, options: JsonDict) -> tuple[int, JsonDict]:
        if call.subresource:
            raise errors.not_implemented(f"delete on subresource {call.rt.plural}/{call.subresource}")
        rt = call.rt
        with self.store.lock:
            old = self._existing(call)
            meta = old["metadata"]
            pre = options.get("preconditions") or {}
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if pre.get(key) and pre[key] != meta.get(key):
                    raise errors.conflict(rt.group, rt.plural, call.name, f"Precondition failed: {label} in "
                                          f"precondition: {pre[key]}, {label} in object meta: {meta.get(key)}")
            policy = (options.get("propagationPolicy") or call.query.get("propagationPolicy")
                      or ("Orphan" if options.get("orphanDependents") else "Background"))
            if policy not in ("Background", "Foreground", "Orphan"):
                raise errors.invalid("meta.k8s.io", "DeleteOptions", "",
                                     [("propagationPolicy", f"Unsupported value: {policy!r}")])
            if call.dry_run:
                return 200, self.present(rt, old)
            if rt.kind == "Namespace" and not rt.crd and call.name in ("default", "kube-system", "kube-public"):
                raise ApiError(403, "Forbidden", f'namespaces "{call.name}" is forbidden: this namespace may not be '
                               "deleted")
            pending = (rt.kind == "Namespace" and not rt.crd) or meta.get("finalizers") or policy == "Foreground"
            if pending:
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = now_rfc3339()
                    meta["deletionGracePeriodSeconds"] = 0
                    if policy == "Foreground":
                        meta["finalizers"] = [*meta.get("finalizers", []), "foregroundDeletion"]
                    if rt.kind == "Namespace":
                        old["status"] = {"phase": "Terminating"}
                    old = self.store.put(rt.storage_key, old)
                return 200, self.present(rt, old)
            self.propagation[meta["uid"]] = policy
            removed = self.store.remove(rt.storage_key, call.namespace, call.name)
            self._after_delete(rt, removed)
        if rt.crd:
            return 200, self.present(rt, removed or old)
        details = {"name": call.name, "kind": rt.plural, "uid": meta["uid"]}
        if rt.group:
            details["group"] = rt.group
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, call: Call, options: JsonDict) -> JsonDict:
        listing = self.list(call)
        for item in listing["items"]:
            sub = Call(call.rt, item["metadata"].get("namespace", ""), item["metadata"]["name"], "",
                       call.query, call.user_agent, call.warnings)
            try:
                self.delete(sub, options)
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return listing

    def _after_delete(self, rt: ResourceType, removed: JsonDict | None) -> None:
        if removed is not None and rt.kind == "CustomResourceDefinition" and not rt.crd:
            name = removed["metadata"]["name"]
            types = self.catalog.crd_versions(name)
            self.catalog.unregister_crd(name)
            if types:
                for obj in self.store.select(types[0].storage_key):
                    meta = obj["metadata"]
                    self.store.remove(types[0].storage_key, meta.get("namespace", ""), meta["name"])


def _okey(obj: JsonDict) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
