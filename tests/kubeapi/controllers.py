"""Simulated controllers: workload status, CRD establishment, namespace and garbage cleanup.

helm's `--wait` watches objects until kstatus calls them Current, so something must write the
status a real controller would. The mode (`ready`, `fail`, `pending`) picks the status shape:
ready satisfies kstatus, fail produces its Failed shapes (Deployment ProgressDeadlineExceeded,
Job Failed) or never-ready ones, pending writes nothing useful. Custom resources are left alone,
except TApps (`apps.tkestack.io`), whose controller is simulated too. Work runs on one background
thread fed by store events, so clients see real MODIFIED events after their write.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from typing import Any

from .catalog import ResourceType
from .errors import ApiError
from .objects import NS_KEY, Call, Registry
from .statuses import CUSTOM_WORKLOADS, condition, same_status, workload_status
from .store import StorageKey, WatchEvent
from .switches import Switches

JsonDict = dict[str, Any]
_MANAGER = {"fieldManager": "kube-controller-manager"}


class Simulator:
    """One background thread applying controller behaviour to store events."""

    def __init__(self, registry: Registry, switches: Switches) -> None:
        self.registry = registry
        self.switches = switches
        self.errors: list[str] = []
        self._queue: queue.Queue[tuple[WatchEvent, bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="kubeapi-controllers", daemon=True)
        registry.store.add_listener(lambda ev: self._queue.put((ev, False)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def resync(self) -> None:
        """Re-evaluate every object, e.g. after a mode switch."""
        store = self.registry.store
        for key in store.storage_keys():
            for obj in store.select(key):
                self._queue.put((WatchEvent(store.rv, "MODIFIED", key, obj), False))

    def idle(self, timeout: float = 5.0) -> bool:
        """Wait until queued work is done (used by tests that poke the store directly)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._queue.empty()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            event, delayed = item
            try:
                self._handle(event, delayed)
            except ApiError as exc:
                if exc.code not in (404, 409):
                    self.errors.append(f"{event.type} {event.key}: {exc.message}")
            except Exception as exc:
                self.errors.append(f"{event.type} {event.key}: {exc!r}")

    def _rt(self, key: StorageKey, obj: JsonDict) -> ResourceType | None:
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        return self.registry.catalog.lookup(key[0], version, key[1])

    def _handle(self, event: WatchEvent, delayed: bool) -> None:
        if event.type == "DELETED":
            self._collect_garbage(event.obj)
            return
        meta = event.obj["metadata"]
        current = self.registry.store.get(event.key, meta.get("namespace", ""), meta["name"])
        rt = self._rt(event.key, event.obj)
        if current is None or rt is None:
            return
        if current["metadata"].get("deletionTimestamp"):
            self._finish_deletion(rt, current)
        elif rt.kind == "CustomResourceDefinition" and not rt.crd:
            self._establish(rt, current)
        elif not rt.crd or (rt.group, rt.kind) in CUSTOM_WORKLOADS:
            self._reconcile(rt, current, delayed)

    def _reconcile(self, rt: ResourceType, obj: JsonDict, delayed: bool) -> None:
        nodes = len(self.registry.store.select(("", "nodes")))
        desired = workload_status(rt.kind, obj, self.switches.mode_for(obj["metadata"]["name"]), nodes)
        if desired is None or same_status(obj.get("status"), desired):
            return
        if self.switches.ready_delay > 0 and not delayed:
            event = WatchEvent(0, "MODIFIED", rt.storage_key, obj)
            threading.Timer(self.switches.ready_delay, self._queue.put, args=((event, True),)).start()
            return
        self._write_status(rt, obj, desired)

    def _write_status(self, rt: ResourceType, obj: JsonDict, status: JsonDict) -> None:
        meta = obj["metadata"]
        call = Call(rt, meta.get("namespace", ""), meta["name"], "status", dict(_MANAGER), "kube-controller-manager")
        body = copy.deepcopy(obj)
        body["status"] = status
        self.registry.update(call, body)

    def _establish(self, rt: ResourceType, crd: JsonDict) -> None:
        spec = crd.get("spec", {})
        storage = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
        desired = {"conditions": [condition("NamesAccepted", True, "NoConflicts", "no conflicts found"),
                                  condition("Established", True, "InitialNamesAccepted",
                                            "the initial names have been accepted")],
                   "acceptedNames": spec.get("names", {}), "storedVersions": storage}
        if not same_status(crd.get("status"), desired):
            self._write_status(rt, crd, desired)

    def _finish_deletion(self, rt: ResourceType, obj: JsonDict) -> None:
        meta = obj["metadata"]
        if rt.kind == "Namespace" and not rt.crd:
            self._empty_namespace(meta["name"])
            self.registry.store.remove(NS_KEY, "", meta["name"])
            return
        if "foregroundDeletion" in meta.get("finalizers", []):
            self._delete_dependents(meta["uid"])
            body = copy.deepcopy(obj)
            body["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
            self.registry.update(Call(rt, meta.get("namespace", ""), meta["name"], "", dict(_MANAGER)), body)

    def _empty_namespace(self, namespace: str) -> None:
        store = self.registry.store
        for key in store.storage_keys():
            for obj in store.select(key, namespace):
                if obj["metadata"].get("namespace") == namespace:
                    rt = self._rt(key, obj)
                    removed = store.remove(key, namespace, obj["metadata"]["name"])
                    if rt is not None:
                        self.registry._after_delete(rt, removed)

    def _dependents(self, uid: str) -> list[tuple[StorageKey, JsonDict]]:
        store = self.registry.store
        return [(key, obj) for key in store.storage_keys() for obj in store.select(key)
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])]

    def _delete_dependents(self, uid: str) -> None:
        for key, obj in self._dependents(uid):
            rt = self._rt(key, obj)
            if rt is not None:
                call = Call(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], "", {})
                self.registry.delete(call, {"propagationPolicy": "Background"})

    def _collect_garbage(self, owner: JsonDict) -> None:
        uid = owner["metadata"].get("uid", "")
        policy = self.registry.propagation.pop(uid, "Background")
        if policy != "Orphan":
            self._delete_dependents(uid)
            return
        for key, obj in self._dependents(uid):
            rt = self._rt(key, obj)
            if rt is not None:
                body = copy.deepcopy(obj)
                refs = obj["metadata"]["ownerReferences"]
                body["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                call = Call(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], "", dict(_MANAGER))
                self.registry.update(call, body)
