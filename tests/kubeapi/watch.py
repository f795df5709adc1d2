"""Watch streams: synthetic ADDED for the initial state, then store events, filtered per client.

client-go informers (behind helm 4's kstatus watcher) list then watch from the list's
resourceVersion, or ask for `sendInitialEvents=true` and wait for the bookmark annotated
`k8s.io/initial-events-end`. Objects that stop matching a label selector are reported as
DELETED, as apiserver does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import bad_request
from .objects import Call, Registry

JsonDict = dict[str, Any]


def _line(event_type: str, obj: JsonDict) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


def watch_events(registry: Registry, call: Call, stopping: threading.Event) -> Iterator[bytes]:
    """Validate the request now (errors become HTTP errors), then stream lazily."""
    match = registry.matcher(call)
    query = call.query
    rv_param = query.get("resourceVersion", "")
    if rv_param not in ("", "0") and not rv_param.isdigit():
        raise bad_request(f"invalid resourceVersion {rv_param!r}")
    return _stream(registry, call, match, stopping)


def _stream(registry: Registry, call: Call, match: Any, stopping: threading.Event) -> Iterator[bytes]:
    store, rt, query = registry.store, call.rt, call.query
    rv_param = query.get("resourceVersion", "")
    send_initial = query.get("sendInitialEvents") == "true"
    timeout = float(query.get("timeoutSeconds") or 1800)
    deadline = time.monotonic() + timeout

    def wanted(obj: JsonDict) -> bool:
        meta = obj["metadata"]
        return ((not call.namespace or meta.get("namespace") == call.namespace)
                and (not call.name or meta["name"] == call.name) and bool(match(obj)))

    with store.lock:
        cursor = store.rv
        current = [o for o in store.select(rt.storage_key, call.namespace or None) if wanted(o)]
    seen: set[tuple[str, str]] = set()
    if rv_param in ("", "0") or send_initial:
        for obj in current:
            seen.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
            yield _line("ADDED", registry.present(rt, obj))
        if send_initial and query.get("allowWatchBookmarks") == "true":
            yield _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {
                "resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}}})
    else:
        cursor = int(rv_param)
        seen = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in current
                if int(o["metadata"]["resourceVersion"]) <= cursor}
    while not stopping.is_set() and not store.closed:
        events = store.events_after(cursor)
        if events is None:
            yield _line("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": f"too old resource version: {cursor}", "reason": "Expired", "code": 410})
            return
        for event in events:
            cursor = event.rv
            if event.key != rt.storage_key:
                continue
            obj = event.obj
            okey = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            now_matches = event.type != "DELETED" and wanted(obj)
            if now_matches:
                yield _line("MODIFIED" if okey in seen else "ADDED", registry.present(rt, obj))
                seen.add(okey)
            elif okey in seen:
                seen.discard(okey)
                yield _line("DELETED", registry.present(rt, obj))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        store.wait(cursor, min(remaining, 0.5))
