"""The one module that talks to clusters through the ``kubernetes`` client: probing, and marking a stuck release.

A probe answers what preflight and the web UI need: is the cluster reachable, which Kubernetes version,
how many nodes, which CPU architectures (``kubernetes.io/arch``), and how many GPUs are allocatable per
extended resource (``nvidia.com/gpu``, ...).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from typing import Any

import msgspec
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

GPU_RESOURCE_SUFFIXES = ("/gpu",)
PROBE_TIMEOUT = 10


class Capabilities(msgspec.Struct, frozen=True):
    reachable: bool
    checked_at: dt.datetime
    version: str = ""
    node_count: int = 0
    architectures: list[str] = []
    gpus: dict[str, int] = {}
    error: str = ""


def _gpus(nodes: list[Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for node in nodes:
        for resource, qty in (node.status.allocatable or {}).items():
            if resource.endswith(GPU_RESOURCE_SUFFIXES):
                try:
                    totals[resource] = totals.get(resource, 0) + int(qty)
                except ValueError:
                    continue
    return totals


def probe(kubeconfig: dict[str, Any]) -> Capabilities:
    """Ask the cluster about itself; an unreachable cluster is reported, not raised."""
    now = dt.datetime.now(dt.UTC)
    try:
        api = k8s_config.new_client_from_config_dict(kubeconfig)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, ValueError, KeyError) as exc:
        return Capabilities(reachable=False, checked_at=now, error=f"invalid kubeconfig: {exc}")
    try:
        with api:
            version = k8s.VersionApi(api).get_code(_request_timeout=PROBE_TIMEOUT)
            nodes = k8s.CoreV1Api(api).list_node(_request_timeout=PROBE_TIMEOUT).items
    except ApiException as exc:
        return Capabilities(reachable=False, checked_at=now, error=f"cluster answered {exc.status}: {exc.reason}")
    except (HTTPError, OSError) as exc:
        return Capabilities(reachable=False, checked_at=now, error=f"cluster unreachable: {type(exc).__name__}")
    archs = sorted({((n.metadata and n.metadata.labels) or {}).get("kubernetes.io/arch", "") for n in nodes} - {""})
    return Capabilities(reachable=True, checked_at=now, version=version.git_version, node_count=len(nodes),
                        architectures=archs, gpus=_gpus(nodes))


def mark_release_failed(kubeconfig: dict[str, Any], namespace: str, name: str, revision: int,
                        description: str) -> None:
    """Mark a helm release revision failed in helm's own storage (its Secret), so helm accepts new operations.

    Helm keeps each revision as Secret ``sh.helm.release.v1.<name>.v<revision>`` holding base64(gzip(JSON));
    the ``status`` label mirrors ``info.status``. This is the "mark failed" recovery of a pending release.
    """
    api = k8s_config.new_client_from_config_dict(kubeconfig)  # type: ignore[no-untyped-call]
    secret_name = f"sh.helm.release.v1.{name}.v{revision}"
    with api:
        core = k8s.CoreV1Api(api)
        secret = core.read_namespaced_secret(secret_name, namespace, _request_timeout=PROBE_TIMEOUT)
        inner = base64.b64decode((secret.data or {})["release"])
        blob = base64.b64decode(inner)
        record = json.loads(gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob)
        record.setdefault("info", {}).update(status="failed", description=description)
        encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
        body = {"metadata": {"labels": {"status": "failed"}},
                "data": {"release": base64.b64encode(encoded.encode()).decode()}}
        core.patch_namespaced_secret(secret_name, namespace, body, _request_timeout=PROBE_TIMEOUT)


class ClusterUnreachable(Exception):
    """The cluster could not be asked: connection refused or cut, timeout, TLS, or an error answer (401, 5xx)."""


def read_namespaced_objects(kubeconfig: dict[str, Any], refs: list[tuple[str, str, str, str]],
                            timeout: float = PROBE_TIMEOUT) -> list[dict[str, Any] | None]:
    """Each ``(apiVersion, plural, namespace, name)`` as JSON (None when absent), through one client.

    Built-in groups are read through the same generic path as custom resources
    (``/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>``), so the caller needs no per-kind API class.
    Raises ClusterUnreachable on the first call that gets no usable answer.
    """
    cfg = k8s.Configuration()
    cfg.retries = 1  # one retry per read: a dead cluster answers in about 2x timeout, not urllib3's 4x
    try:
        api = k8s_config.new_client_from_config_dict(kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, ValueError, KeyError) as exc:
        raise ClusterUnreachable(f"invalid kubeconfig: {exc}") from None
    found: list[dict[str, Any] | None] = []
    with api:
        custom = k8s.CustomObjectsApi(api)
        for api_version, plural, namespace, name in refs:
            group, _, version = api_version.rpartition("/")
            try:
                obj = custom.get_namespaced_custom_object(group, version, namespace, plural, name,
                                                          _request_timeout=timeout)
            except ApiException as exc:
                if exc.status == 404:
                    found.append(None)
                    continue
                raise ClusterUnreachable(f"cluster answered {exc.status}: {exc.reason}") from None
            except (HTTPError, OSError) as exc:
                raise ClusterUnreachable(f"cluster unreachable: {type(exc).__name__}") from None
            found.append(obj if isinstance(obj, dict) else None)
    return found
