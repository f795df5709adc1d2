"""Helm repository ``index.yaml`` projection, pure.

Each chart version is rendered once, at upload, to a YAML fragment (:func:`render_entry`); serving the
index is then a join of fragments (:func:`render_index`) with no YAML serialisation, so adding one
version to a repository of 10,000 costs one fragment, not a re-render of everything.

Helm loads index files with ``sigs.k8s.io/yaml`` in *strict* mode (unknown or duplicate keys fail the
whole index) on top of go-yaml v2, which resolves plain scalars by YAML 1.1 rules plus a few of its own
(``y``/``n`` are booleans, ``0o17``, ``1e3`` and ``08`` are numbers). Entries therefore carry only the
fields Helm knows, and the dumper quotes every string that *any* of PyYAML, go-yaml v2 or YAML 1.2
would read as something other than a string, so ``appVersion: "1e3"`` stays a string for Helm too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import yaml

from appmarket.repo.chart_meta import ChartMetadata

_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Safe dumper that also quotes scalars go-yaml v2 would not read back as strings."""


# go-yaml v2 booleans PyYAML does not know.
_Dumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
# go-yaml v2 numbers: strconv.ParseInt(s, 0, 64) prefixes and its float pattern (which takes "08", "1e3").
_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?0[oObBxX][0-9a-fA-F_]*$"),
                              list("-+0"))
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"), list("-+.0123456789"))

_PLAIN_KEY = re.compile(r"[a-z][a-z0-9-]*")
_SPECIAL_KEYS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_HELM_KEYS = {"apiVersion", "name", "version", "kubeVersion", "description", "type", "keywords", "home",
              "sources", "dependencies", "maintainers", "icon", "appVersion", "deprecated", "annotations",
              "urls", "created", "digest", "removed"}


def format_timestamp(when: dt.datetime) -> str:
    """RFC 3339 in UTC with nanosecond precision and trailing zeros trimmed, as Go's RFC3339Nano.

    A naive datetime is taken to be UTC (what databases without time zones hand back).
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    when = when.astimezone(dt.UTC)
    frac = f"{when.microsecond:06d}000".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def index_entry(metadata: ChartMetadata | Mapping[str, Any], digest: str, created: dt.datetime,
                urls: Sequence[str]) -> dict[str, Any]:
    """One index entry: the Chart.yaml fields (Helm names, empty ones left out) plus urls/created/digest.

    ``digest`` may be ``sha256:<hex>`` or bare hex; the index carries bare hex, as ``helm repo index``
    writes it. Keys Helm's strict index loader would reject are dropped.
    """
    raw = msgspec.to_builtins(metadata) if isinstance(metadata, ChartMetadata) else dict(metadata)
    entry = {k: v for k, v in raw.items() if k in _HELM_KEYS and v not in (None, "", [], {})}
    entry["urls"] = list(urls)
    entry["created"] = format_timestamp(created)
    entry["digest"] = digest.removeprefix("sha256:")
    return entry


def render_entry(entry: Mapping[str, Any]) -> str:
    """A block-style YAML list item for one entry, indented to sit under ``entries: <name>:``.

    Keys are sorted (as Helm writes them); the result ends with a newline.
    """
    text: str = yaml.dump([dict(entry)], Dumper=_Dumper, default_flow_style=False, sort_keys=True,
                          allow_unicode=True, width=1 << 30)
    return "\n".join(f"  {line}" if line else line for line in text.split("\n"))


def _key(name: str) -> str:
    if _PLAIN_KEY.fullmatch(name) and name not in _SPECIAL_KEYS:
        return name
    return json.dumps(name)  # a JSON string is a valid YAML double-quoted scalar


def render_index(fragments_by_name: Mapping[str, Sequence[str]], generated: dt.datetime) -> bytes:
    """Assemble ``index.yaml`` from pre-rendered fragments: names sorted, versions in the given order.

    Names without fragments are left out. The caller orders each name's fragments newest first
    (``sorted(..., key=semver_sort_key, reverse=True)``), which is what Helm expects.
    """
    parts = ["apiVersion: v1\n"]
    names = sorted(n for n, frags in fragments_by_name.items() if frags)
    if names:
        parts.append("entries:\n")
        for name in names:
            parts.append(f"  {_key(name)}:\n")
            parts.extend(fragments_by_name[name])
    else:
        parts.append("entries: {}\n")
    parts.append(f'generated: "{format_timestamp(generated)}"\n')
    return "".join(parts).encode("utf-8")


def render_empty_index(generated: dt.datetime) -> bytes:
    """An index with no charts (what a new repository serves)."""
    return render_index({}, generated)


SortKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


def semver_sort_key(version: str) -> SortKey:
    """Ascending SemVer precedence; build metadata ignored, unparsable versions sort lowest."""
    m = _SEMVER.fullmatch(version)
    if m is None:
        return (-1, -1, -1, -1, ((1, 0, version),))
    pre = m.group(4)
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre_key)
