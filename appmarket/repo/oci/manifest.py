"""Manifest and index parsing (OCI image spec and Docker v2 schema 2), from bytes, no I/O.

The registry stores the exact bytes it was given; this module only extracts what the registry must
check (referenced descriptors) and record (subject, artifact type, platforms, annotations).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from appmarket.errors import Invalid
from appmarket.repo.oci import codes
from appmarket.repo.oci.reference import check_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
ALL_TYPES = MANIFEST_TYPES | INDEX_TYPES

OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIGS = frozenset({OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG})
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"


class Descriptor(msgspec.Struct, frozen=True, omit_defaults=True):
    mediaType: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    artifactType: str | None = None
    platform: dict[str, Any] | None = None


class Parsed(msgspec.Struct, frozen=True, kw_only=True):
    media_type: str
    config: Descriptor | None = None
    layers: list[Descriptor] = []
    manifests: list[Descriptor] = []
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = {}

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def blob_refs(self) -> list[Descriptor]:
        """Descriptors that must exist as blobs in the repository (config and layers)."""
        return ([self.config] if self.config else []) + list(self.layers)

    @property
    def platforms(self) -> list[str]:
        return sorted({p for d in self.manifests if d.platform and (p := platform_text(d.platform))})

    @property
    def is_helm_chart(self) -> bool:
        return self.config is not None and self.config.mediaType == HELM_CONFIG


def _bad(message: str) -> Invalid:
    return Invalid(message, code=codes.MANIFEST_INVALID)


def platform_text(platform: dict[str, Any]) -> str:
    """``os/architecture[/variant]``, e.g. ``linux/arm64/v8``."""
    os_, arch = platform.get("os"), platform.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str) or not os_ or not arch:
        return ""
    variant = platform.get("variant")
    return f"{os_}/{arch}/{variant}" if isinstance(variant, str) and variant else f"{os_}/{arch}"


def _descriptor(raw: Any, where: str) -> Descriptor:
    try:
        desc = msgspec.convert(raw, Descriptor)
    except msgspec.ValidationError as exc:
        raise _bad(f"{where}: invalid descriptor: {exc}") from exc
    try:
        check_digest(desc.digest)
    except Invalid as exc:
        raise _bad(f"{where}: {exc.message}") from exc
    if desc.size < 0:
        raise _bad(f"{where}: negative size")
    return desc


def _strings(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise _bad(f"{where} must map strings to strings")
    return dict(raw)


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    """The manifest's media type: its ``mediaType`` field, else the Content-Type, else by shape."""
    header = (content_type or "").split(";")[0].strip()
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _bad("mediaType must be a string")
    if declared and header in ALL_TYPES and declared != header:
        raise _bad(f"Content-Type {header} does not match the manifest's mediaType {declared}")
    media_type = declared or (header if header in ALL_TYPES else "")
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in ALL_TYPES:
        raise _bad(f"unsupported manifest media type {media_type!r}")
    return media_type


def parse_manifest(body: bytes, content_type: str | None) -> Parsed:
    """Parse and check a manifest or index; ``Invalid(MANIFEST_INVALID)`` says what is wrong."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _bad("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _bad("schemaVersion must be 2")
    media_type = _media_type(doc, content_type)
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _bad("artifactType must be a string")
    annotations = _strings(doc.get("annotations"), "annotations")
    if media_type in INDEX_TYPES:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _bad("an index needs a 'manifests' list")
        manifests = [_descriptor(c, f"manifests[{i}]") for i, c in enumerate(children)]
        return Parsed(media_type=media_type, manifests=manifests, subject=subject,
                      artifact_type=artifact_type, annotations=annotations)
    if "config" not in doc:
        raise _bad("an image manifest needs a 'config' descriptor")
    config = _descriptor(doc["config"], "config")
    layers_raw = doc.get("layers", [])
    if not isinstance(layers_raw, list):
        raise _bad("'layers' must be a list")
    layers = [_descriptor(x, f"layers[{i}]") for i, x in enumerate(layers_raw)]
    if artifact_type is None and config.mediaType not in IMAGE_CONFIGS | {EMPTY_CONFIG}:
        artifact_type = config.mediaType  # spec: referrers fall back to the config media type
    return Parsed(media_type=media_type, config=config, layers=layers, subject=subject,
                  artifact_type=artifact_type, annotations=annotations)


def config_platform(config: bytes) -> str:
    """The ``os/architecture`` an image config declares, or '' when it declares none."""
    try:
        doc = json.loads(config)
    except (ValueError, UnicodeDecodeError):
        return ""
    return platform_text(doc) if isinstance(doc, dict) else ""


def referrers_index(descriptors: list[Descriptor]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [msgspec.to_builtins(d) for d in descriptors]}).encode()
