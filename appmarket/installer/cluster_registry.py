"""Registering clusters: probe first, then store the kubeconfig sealed; keep capabilities current."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from appmarket.auth.schemas import Principal
from appmarket.auth.service import AuthService
from appmarket.db.engine import Database
from appmarket.db.installer import Cluster
from appmarket.errors import Conflict, Invalid, NotFound, Unauthorized, Upstream
from appmarket.installer.clusters import Capabilities, probe
from appmarket.installer.kubeconfig import build_kubeconfig, parse_kubeconfig
from appmarket.installer.schemas import ClusterCreate, ClusterOut, ClusterUpdate
from appmarket.installer.secretbox import SecretBox

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Kubernetes label syntax: optional DNS prefix, name of up to 63 characters.
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")

Prober = Callable[[dict[str, Any]], Capabilities]


def validate_labels(labels: dict[str, str | None]) -> None:
    for key, value in labels.items():
        if _LABEL_KEY.fullmatch(key) is None:
            raise Invalid(f"invalid label key {key!r}")
        if value is not None and _LABEL_VALUE.fullmatch(value) is None:
            raise Invalid(f"invalid value {value!r} for label {key!r}")


def to_out(c: Cluster) -> ClusterOut:
    caps = msgspec.convert(c.capabilities, Capabilities) if c.capabilities else None
    return ClusterOut(name=c.name, server=c.server, labels=dict(c.labels), capabilities=caps,
                      atomic_default=c.atomic_default, created_at=c.created_at, created_by=c.created_by)


class ClusterRegistry:
    def __init__(self, db: Database, auth: AuthService, box: SecretBox, prober: Prober = probe) -> None:
        self._db = db
        self._auth = auth
        self._box = box
        self._probe = prober

    def register(self, principal: Principal, data: ClusterCreate) -> ClusterOut:
        self._auth.require_admin(principal)
        if _NAME.fullmatch(data.name) is None:
            raise Invalid(f"invalid cluster name {data.name!r}: lowercase letters, digits and '-'")
        validate_labels(dict(data.labels))
        if data.kubeconfig:
            doc, server = parse_kubeconfig(data.kubeconfig, data.context)
        elif data.server and data.token:
            doc, server = parse_kubeconfig(build_kubeconfig(data.server, data.token, data.ca_cert,
                                                            data.insecure_skip_tls_verify))
        else:
            raise Invalid("give a kubeconfig, or a server URL and a token")
        caps = self._probe(doc)
        if not caps.reachable:
            raise Upstream(f"cluster {data.name!r} did not answer the probe: {caps.error}")
        sealed = self._box.seal(msgspec.json.encode(doc).decode())
        row = Cluster(name=data.name, server=server, kubeconfig_sealed=sealed, labels=dict(data.labels),
                      capabilities=msgspec.to_builtins(caps), atomic_default=data.atomic_default,
                      created_by=principal.name)
        try:
            with self._db.write() as s:
                s.add(row)
        except IntegrityError as exc:
            raise Conflict(f"cluster {data.name!r} already exists") from exc
        return to_out(row)

    def list(self, principal: Principal) -> list[ClusterOut]:
        if not principal.signed_in:
            raise Unauthorized("sign in to see clusters")
        with self._db.read() as s:
            return [to_out(c) for c in s.exec(select(Cluster).order_by(Cluster.name)).all()]

    def get(self, principal: Principal, name: str) -> ClusterOut:
        if not principal.signed_in:
            raise Unauthorized("sign in to see clusters")
        return to_out(self._row(name))

    def delete(self, principal: Principal, name: str) -> None:
        self._auth.require_admin(principal)
        with self._db.write() as s:
            row = s.exec(select(Cluster).where(Cluster.name == name)).first()
            if row is None:
                raise NotFound(f"cluster {name!r} not found")
            s.delete(row)

    def set_labels(self, principal: Principal, name: str, labels: dict[str, str | None]) -> ClusterOut:
        return self.update(principal, name, ClusterUpdate(labels=labels))

    def update(self, principal: Principal, name: str, data: ClusterUpdate) -> ClusterOut:
        """Change the rollback-on-failure default and/or labels (a null label value removes the label)."""
        self._auth.require_admin(principal)
        if not isinstance(data.labels, msgspec.UnsetType):
            validate_labels(data.labels)
        with self._db.write() as s:
            row = s.exec(select(Cluster).where(Cluster.name == name)).first()
            if row is None:
                raise NotFound(f"cluster {name!r} not found")
            if not isinstance(data.labels, msgspec.UnsetType):
                merged = dict(row.labels)
                for key, value in data.labels.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                row.labels = merged
            if not isinstance(data.atomic_default, msgspec.UnsetType):
                row.atomic_default = data.atomic_default
            s.add(row)
        return to_out(row)

    def refresh(self, name: str) -> ClusterOut:
        """Probe again and store the result (the background health check calls this)."""
        caps = self._probe(self.kubeconfig(name))
        with self._db.write() as s:
            row = s.exec(select(Cluster).where(Cluster.name == name)).first()
            if row is None:
                raise NotFound(f"cluster {name!r} not found")
            row.capabilities = msgspec.to_builtins(caps)
            s.add(row)
        return to_out(row)

    def names(self) -> tuple[str, ...]:
        with self._db.read() as s:
            return tuple(s.exec(select(Cluster.name).order_by(Cluster.name)).all())

    def capabilities(self, name: str) -> tuple[dict[str, Any], bool]:
        """The last probe result and the cluster's rollback-on-failure default."""
        row = self._row(name)
        return dict(row.capabilities), row.atomic_default

    def kubeconfig(self, name: str) -> dict[str, Any]:
        """The decrypted kubeconfig, for the installer only; never returned by the API."""
        doc: dict[str, Any] = msgspec.json.decode(self._box.open(self._row(name).kubeconfig_sealed))
        return doc

    def _row(self, name: str) -> Cluster:
        with self._db.read() as s:
            row = s.exec(select(Cluster).where(Cluster.name == name)).first()
        if row is None:
            raise NotFound(f"cluster {name!r} not found")
        return row
