"""Pure protocol rules, from bytes: reference grammar, digests, manifest parsing, ranges, Helm config."""

from __future__ import annotations

import json

import pytest

from appmarket.api.oci_body import DownloadPacer, parse_content_range, parse_range
from appmarket.errors import Invalid
from appmarket.repo.oci import codes
from appmarket.repo.oci.helm import helm_config_json
from appmarket.repo.oci.manifest import DOCKER_LIST, HELM_CONFIG, OCI_INDEX, OCI_MANIFEST, parse_manifest
from appmarket.repo.oci.reference import chart_tag, check_digest, check_name, check_tag
from appmarket.storage.base import CHUNK_SIZE

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["team-a/app", "a/b/c", "a0/b.c_d__e--f", "x/y-------z"])
def test_valid_names(name: str) -> None:
    assert check_name(name)[0] == name.split("/", maxsplit=1)[0]


@pytest.mark.parametrize("name", ["single", "A/b", "a/b_", "a/.b", "a/b___c", "a//b", "a/b/", "a/" + "b" * 260])
def test_invalid_names(name: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_name(name)
    assert exc.value.code == codes.NAME_INVALID


def test_tags_and_digests() -> None:
    assert check_tag("v1.0_rc-1") and check_tag("_x") and check_tag("a" * 128)
    for bad in ("-x", ".x", "a" * 129, "a+b", ""):
        with pytest.raises(Invalid):
            check_tag(bad)
    assert check_digest(D) and check_digest("sha512:" + "0" * 128)
    for bad in ("sha256:" + "a" * 63, "sha256:" + "A" * 64, "sha512:" + "0" * 64, "md5:" + "0" * 32, "nocolon"):
        with pytest.raises(Invalid) as exc:
            check_digest(bad)
        assert exc.value.code == codes.DIGEST_INVALID
    assert chart_tag("1.2.3+build.4") == "1.2.3_build.4"


def _desc(media: str = "application/octet-stream", **extra: object) -> dict[str, object]:
    return {"mediaType": media, "digest": D, "size": 3, **extra}


def test_parse_manifest_and_index() -> None:
    m = parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc(HELM_CONFIG),
                                   "layers": [_desc()], "subject": _desc(OCI_MANIFEST)}).encode(), OCI_MANIFEST)
    assert m.is_helm_chart and m.artifact_type == HELM_CONFIG and m.subject is not None
    idx = parse_manifest(json.dumps({"schemaVersion": 2, "manifests": [
        _desc(OCI_MANIFEST, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
        _desc(OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"})]}).encode(), DOCKER_LIST)
    assert idx.media_type == DOCKER_LIST and idx.platforms == ["linux/amd64", "linux/arm64/v8"]
    assert parse_manifest(json.dumps({"schemaVersion": 2, "manifests": []}).encode(), None).media_type == OCI_INDEX


@pytest.mark.parametrize("doc", [
    {"schemaVersion": 1, "config": _desc(), "layers": []},
    {"schemaVersion": 2, "mediaType": OCI_INDEX, "config": _desc()},
    {"schemaVersion": 2, "mediaType": "text/plain", "config": _desc()},
    {"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}},
    {"schemaVersion": 2, "config": _desc(), "layers": [{"digest": D}]},
    {"schemaVersion": 2, "config": _desc(), "layers": [], "annotations": {"a": 1}},
    [1, 2],
])
def test_invalid_manifests(doc: object) -> None:
    with pytest.raises(Invalid) as exc:
        parse_manifest(json.dumps(doc).encode(), OCI_MANIFEST)
    assert exc.value.code == codes.MANIFEST_INVALID


def test_ranges() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) == (2, 3)
    assert parse_range("bytes=5-", 10) == (5, 5)
    assert parse_range("bytes=-3", 10) == (7, 3)
    assert parse_range("bytes=8-100", 10) == (8, 2)
    assert parse_range("Bytes = 1-1", 10) == (1, 1) and parse_range("bytes=-30", 10) == (0, 10)
    # Not understood: ignored (the whole blob, RFC 9110 14.2), never an error.
    for ignored in ("bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes=x-", "bytes=-", "bytes", "bytes=1-2-3",
                    "bytes=\u0662-", "bytes=" + "9" * 30 + "-"):
        assert parse_range(ignored, 10) is None, ignored
    # Well formed but selecting nothing: unsatisfiable.
    for unsatisfiable, size in (("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0),
                                ("bytes=-5", 0)):
        with pytest.raises(Invalid) as exc:
            parse_range(unsatisfiable, size)
        assert exc.value.code == codes.RANGE_INVALID, unsatisfiable
    assert parse_content_range("0-99") == 0 and parse_content_range("bytes 5-9") == 5
    with pytest.raises(Invalid):
        parse_content_range("9-5")


def test_helm_config_uses_helms_field_order() -> None:
    cfg = helm_config_json({"apiVersion": "v2", "version": "1.0.0", "name": "x", "appVersion": "2"})
    assert cfg == b'{"name":"x","version":"1.0.0","apiVersion":"v2","appVersion":"2"}'


def test_download_pacer_keeps_large_chunks_to_few_streams() -> None:
    pacer = DownloadPacer(fast_chunk=8 * CHUNK_SIZE, fast_streams=2)
    assert pacer.chunk_size() == 8 * CHUNK_SIZE
    a, b = pacer.counted(iter([b"a", b"a"])), pacer.counted(iter([b"b"]))
    assert next(a) == b"a" and next(b) == b"b"  # two downloads running
    assert pacer.chunk_size() == CHUNK_SIZE  # a third gets the storage default
    assert list(b) == []  # one finishes
    assert pacer.chunk_size() == 8 * CHUNK_SIZE
    a.close()  # a client that hung up mid-download
    assert pacer._active == 0
