"""Helpers for OCI registry tests: digests, blob pushes and manifests built from bytes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def sha(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def push_blob(client: Any, auth: dict[str, str], repo: str, data: bytes) -> str:
    digest = sha(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data,
                    headers={**auth, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def image_manifest(config: bytes, layers: list[bytes], *, config_type: str = EMPTY,
                   subject: dict[str, Any] | None = None, artifact_type: str | None = None) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(x), "size": len(x)}
                   for x in layers],
    }
    if subject is not None:
        doc["subject"] = subject
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    return json.dumps(doc).encode()


def push_image(client: Any, auth: dict[str, str], repo: str, tag: str, config: bytes,
               layers: list[bytes], **kw: Any) -> tuple[str, bytes]:
    for blob in [config, *layers]:
        push_blob(client, auth, repo, blob)
    body = image_manifest(config, layers, **kw)
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={**auth, "Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return r.headers["docker-content-digest"], body


def error_code(response: Any) -> str:
    return str(response.json()["errors"][0]["code"])
