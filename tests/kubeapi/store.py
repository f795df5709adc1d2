"""Thread-safe in-memory object store with a global resourceVersion and a watch history.

One counter for every object (like etcd's revision) makes `resourceVersion` comparable across
kinds, so a watch can resume from any list. The bounded event history is what makes a too-old
resourceVersion answer 410 Gone, as real watches do. A state dir, when given, is rewritten after
each change so a restarted server keeps its objects.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]
StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    key: StorageKey
    obj: JsonDict


class Store:
    """All objects by storage key; callers hold `lock` across read-modify-write sequences."""

    def __init__(self, state_dir: Path | None = None, history: int = 20_000) -> None:
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._rv = 1
        self._objects: dict[StorageKey, dict[ObjectKey, JsonDict]] = {}
        self._events: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = 1
        self._listeners: list[Callable[[WatchEvent], None]] = []
        self._state_file = state_dir / "state.json" if state_dir else None
        self.closed = False
        if self._state_file and self._state_file.exists():
            self._load(self._state_file)

    @property
    def rv(self) -> int:
        with self.lock:
            return self._rv

    def add_listener(self, listener: Callable[[WatchEvent], None]) -> None:
        """Listeners run under the lock, so they must only enqueue work."""
        self._listeners.append(listener)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: StorageKey, namespace: str, name: str) -> JsonDict | None:
        with self.lock:
            obj = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def select(self, key: StorageKey, namespace: str | None = None) -> list[JsonDict]:
        with self.lock:
            items = self._objects.get(key, {})
            return [copy.deepcopy(obj) for (ns, _), obj in sorted(items.items())
                    if namespace is None or ns == namespace]

    def storage_keys(self) -> list[StorageKey]:
        with self.lock:
            return [k for k, objs in self._objects.items() if objs]

    # -- writes --------------------------------------------------------------------------------
    def put(self, key: StorageKey, obj: JsonDict) -> JsonDict:
        """Store `obj` with a new resourceVersion; ADDED or MODIFIED follows from presence."""
        with self.lock:
            meta = obj["metadata"]
            okey = (meta.get("namespace", ""), meta["name"])
            bucket = self._objects.setdefault(key, {})
            event_type = "MODIFIED" if okey in bucket else "ADDED"
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            bucket[okey] = copy.deepcopy(obj)
            self._emit(WatchEvent(self._rv, event_type, key, copy.deepcopy(obj)))
            return copy.deepcopy(obj)

    def remove(self, key: StorageKey, namespace: str, name: str) -> JsonDict | None:
        with self.lock:
            obj = self._objects.get(key, {}).pop((namespace, name), None)
            if obj is None:
                return None
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._emit(WatchEvent(self._rv, "DELETED", key, copy.deepcopy(obj)))
            return obj

    def _emit(self, event: WatchEvent) -> None:
        if len(self._events) == self._events.maxlen:
            self._compacted_rv = self._events[0].rv
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        self._cond.notify_all()
        self._persist()

    # -- watch support -------------------------------------------------------------------------
    def events_after(self, rv: int) -> list[WatchEvent] | None:
        """Events newer than `rv`, or None when history no longer reaches back that far."""
        with self.lock:
            if rv < self._compacted_rv:
                return None
            newer: list[WatchEvent] = []
            for event in reversed(self._events):
                if event.rv <= rv:
                    break
                newer.append(event)
            return newer[::-1]

    def wait(self, after_rv: int, timeout: float) -> None:
        """Block until something newer than `after_rv` happens, the store closes, or timeout."""
        with self._cond:
            if self._rv <= after_rv and not self.closed:
                self._cond.wait(timeout)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- persistence ---------------------------------------------------------------------------
    def _persist(self) -> None:
        if self._state_file is None:
            return
        state = {"rv": self._rv, "objects": [
            {"key": list(key), "object": obj} for key, objs in self._objects.items() for obj in objs.values()
        ]}
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self._state_file)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self._rv = self._compacted_rv = int(state["rv"])
        for entry in state["objects"]:
            obj = entry["object"]
            meta = obj["metadata"]
            key = (entry["key"][0], entry["key"][1])
            self._objects.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = obj
