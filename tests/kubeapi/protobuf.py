"""Decode the few protobuf request bodies client-go's typed clients send.

helm's release storage uses the typed clientset, which POSTs/PUTs Secrets (or ConfigMaps) and
DELETEs with `application/vnd.kubernetes.protobuf` bodies and never falls back to JSON on 415,
so the server must read them. Only these kinds are mapped (field numbers from k8s.io/api
`generated.proto`); any other protobuf body answers 501. Responses are always JSON, which those
clients accept.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from typing import Any, Union

from .errors import bad_request, not_implemented

JsonDict = dict[str, Any]
FieldType = Union[str, "Schema", tuple[str, str]]
Schema = dict[int, tuple[str, FieldType, bool]]  # field number -> (json name, type, repeated)

MAGIC = b"k8s\x00"

_TIME: Schema = {1: ("seconds", "int", False), 2: ("nanos", "int", False)}
_OWNER_REF: Schema = {1: ("kind", "string", False), 3: ("name", "string", False), 4: ("uid", "string", False),
                      5: ("apiVersion", "string", False), 6: ("controller", "bool", False),
                      7: ("blockOwnerDeletion", "bool", False)}
_MANAGED: Schema = {1: ("manager", "string", False), 2: ("operation", "string", False),
                    3: ("apiVersion", "string", False), 4: ("time", "time", False),
                    6: ("fieldsType", "string", False), 7: ("fieldsV1", "fieldsv1", False),
                    8: ("subresource", "string", False)}
_PRECONDITIONS: Schema = {1: ("uid", "string", False), 2: ("resourceVersion", "string", False)}
_META: Schema = {
    1: ("name", "string", False), 2: ("generateName", "string", False), 3: ("namespace", "string", False),
    4: ("selfLink", "string", False), 5: ("uid", "string", False), 6: ("resourceVersion", "string", False),
    7: ("generation", "int", False), 8: ("creationTimestamp", "time", False),
    9: ("deletionTimestamp", "time", False), 10: ("deletionGracePeriodSeconds", "int", False),
    11: ("labels", ("map", "string"), False), 12: ("annotations", ("map", "string"), False),
    13: ("ownerReferences", _OWNER_REF, True), 14: ("finalizers", "string", True),
    17: ("managedFields", _MANAGED, True),
}
KINDS: dict[str, Schema] = {
    "Secret": {1: ("metadata", _META, False), 2: ("data", ("map", "bytes"), False), 3: ("type", "string", False),
               4: ("stringData", ("map", "string"), False), 5: ("immutable", "bool", False)},
    "ConfigMap": {1: ("metadata", _META, False), 2: ("data", ("map", "string"), False),
                  3: ("binaryData", ("map", "bytes"), False), 4: ("immutable", "bool", False)},
    "Namespace": {1: ("metadata", _META, False), 2: ("spec", {1: ("finalizers", "string", True)}, False),
                  3: ("status", {1: ("phase", "string", False)}, False)},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int", False),
                      2: ("preconditions", _PRECONDITIONS, False),
                      3: ("orphanDependents", "bool", False), 4: ("propagationPolicy", "string", False),
                      5: ("dryRun", "string", True)},
}
_ENVELOPE: Schema = {1: ("typeMeta", {1: ("apiVersion", "string", False), 2: ("kind", "string", False)}, False),
                     2: ("raw", "rawbytes", False), 3: ("contentEncoding", "string", False),
                     4: ("contentType", "string", False)}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise bad_request("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(buf, pos)
            out.append((number, buf[pos:pos + length]))
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((number, int.from_bytes(buf[pos:pos + size], "little")))
            pos += size
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
    return out


def _int(raw: int) -> int:
    return raw - (1 << 64) if raw >= 1 << 63 else raw  # int64 is two's complement on the wire


def _fields_v1(raw: bytes) -> Any:
    inner = dict(_fields(raw)).get(1, b"{}")
    return json.loads(inner if isinstance(inner, bytes) else b"{}")


def _time(raw: bytes) -> str | None:
    seconds = decode_message(raw, _TIME).get("seconds", 0)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None


_VARINT_DECODERS: dict[str, Callable[[int], Any]] = {"int": _int, "bool": bool}
_BYTES_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "string": bytes.decode, "bytes": lambda raw: base64.b64encode(raw).decode(), "rawbytes": lambda raw: raw,
    "fieldsv1": _fields_v1, "time": _time,
}


def _scalar(kind: str, raw: int | bytes) -> Any:
    decoder: Callable[[Any], Any] | None = (_VARINT_DECODERS if isinstance(raw, int) else _BYTES_DECODERS).get(kind)
    if decoder is None:
        raise bad_request(f"protobuf field of type {kind} has the wrong wire type")
    return decoder(raw)


def decode_message(buf: bytes, schema: Schema) -> JsonDict:
    """Decode one message; empty optional scalars are dropped, as JSON `omitempty` would."""
    out: JsonDict = {}
    for number, raw in _fields(buf):
        if number not in schema:
            continue
        name, kind, repeated = schema[number]
        if isinstance(kind, tuple):
            entry = dict(_fields(raw if isinstance(raw, bytes) else b""))
            key = entry.get(1, b"")
            text_key = key.decode() if isinstance(key, bytes) else str(key)
            out.setdefault(name, {})[text_key] = _scalar(kind[1], entry.get(2, b""))
            continue
        if isinstance(kind, dict):
            value: Any = decode_message(raw if isinstance(raw, bytes) else b"", kind)
        else:
            value = _scalar(kind, raw)
        if repeated:
            out.setdefault(name, []).append(value)
        elif value not in ("", 0, False, None, {}) or kind == "rawbytes":
            out[name] = value
    return out


def decode(body: bytes) -> JsonDict:
    """Turn a `k8s\\0`-prefixed runtime.Unknown envelope into the JSON form of its object."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body lacks the k8s envelope prefix")
    envelope = decode_message(body[len(MAGIC):], _ENVELOPE)
    type_meta = envelope.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise not_implemented(f"protobuf request bodies of kind {kind or '(unknown)'}")
    obj = decode_message(envelope.get("raw", b""), KINDS[kind])
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
