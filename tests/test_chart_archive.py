"""The chart archive reader, from bytes: what it keeps and everything it refuses."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from appmarket.errors import Invalid, TooLarge
from appmarket.repo.archive import read_chart_archive
from appmarket.repo.chart_package import inspect_chart
from appmarket.settings import ChartLimits
from tests.support.charts import Member, gzip_bytes, make_bomb_tgz, make_chart_tgz, tar_bytes
from tests.support.helm import Helm

LIMITS = ChartLimits()


def read(data: bytes, limits: ChartLimits = LIMITS, **kw: str):  # type: ignore[no-untyped-def]
    return read_chart_archive(io.BytesIO(data), limits, **kw)


def test_reads_a_chart_and_hashes_the_compressed_bytes() -> None:
    tgz = make_chart_tgz(files={"README.md": "# Demo", "values.schema.json": "{}", "Chart.lock": "x: 1",
                                "requirements.yaml": "dependencies: []", "templates/_helpers.tpl": "{{/* */}}",
                                "templates/tests/t.yaml": "a: 1", "charts/sub/Chart.yaml": "name: sub",
                                "charts/redis-1.2.3.tgz": b"\x1f\x8b", "charts/x.tgz.prov": "sig",
                                "charts/_skip/a": "x", "LICENSE": "Apache", "files/a.txt": "dropped"})
    arc = read(tgz)
    assert arc.top == "demo"
    assert arc.digest == "sha256:" + hashlib.sha256(tgz).hexdigest()
    assert arc.size == len(tgz)
    assert arc.unpacked_size >= 512 * arc.member_count
    assert arc.chart_yaml is not None and b"name: demo" in arc.chart_yaml
    assert arc.values_yaml is not None and arc.values_schema_json == b"{}"
    assert (arc.chart_lock, arc.requirements_yaml) == (b"x: 1", b"dependencies: []")
    assert (arc.readme_name, arc.readme) == ("README.md", b"# Demo")
    assert arc.templates == ["templates/_helpers.tpl", "templates/configmap.yaml", "templates/tests/t.yaml"]
    assert arc.subcharts == ["redis-1.2.3.tgz", "sub"]


@pytest.mark.parametrize(("names", "chosen"), [
    (["readme.txt", "README.md"], "README.md"),
    (["README", "Readme.rst"], "README"),
    (["docs/README.md", "ReadMe.MD"], "ReadMe.MD"),
])
def test_readme_choice(names: list[str], chosen: str) -> None:
    arc = read(make_chart_tgz(files={n: n for n in names}))
    assert arc.readme_name == chosen
    assert arc.readme == chosen.encode()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_formats_and_directory_entries(fmt: int) -> None:
    arc = read(make_chart_tgz(dir_entries=True, fmt=fmt))
    assert arc.top == "demo"
    assert arc.templates == ["templates/configmap.yaml"]


def test_long_names_via_pax_and_gnu() -> None:
    long = "templates/" + "a" * 150 + ".yaml"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        assert long in read(make_chart_tgz(files={long: "x: 1"}, fmt=fmt)).templates


def test_concatenated_gzip_members_are_one_stream() -> None:
    tar = tar_bytes([Member("demo/Chart.yaml", b"name: demo\n"), Member("demo/values.yaml", b"a: 1\n")])
    data = gzip_bytes(tar[:1000]) + gzip_bytes(tar[1000:])
    assert read(data).values_yaml == b"a: 1\n"


def test_expected_digest() -> None:
    tgz = make_chart_tgz()
    good = "sha256:" + hashlib.sha256(tgz).hexdigest()
    assert read(tgz, expected_digest=good).digest == good
    with pytest.raises(Invalid, match="does not match the expected"):
        read(tgz, expected_digest="sha256:" + "0" * 64)


def refused(data: bytes, limits: ChartLimits = LIMITS) -> str:
    with pytest.raises(Invalid) as info:
        read(data, limits)
    return info.value.message


@pytest.mark.parametrize(("member", "message"), [
    (Member("/etc/passwd"), "'/etc/passwd' has an absolute path"),
    (Member("demo/../../etc/passwd"), "'demo/../../etc/passwd' escapes the chart directory"),
    (Member("demo/templates/../../x"), "escapes the chart directory"),
    (Member("demo\\..\\x"), "contains a backslash"),
    (Member("demo/a\x01b"), "contains a control character"),
    (Member("demo/a", pax={"path": "demo/a\x00b"}), "contains a control character"),
    (Member("demo//a"), "empty or '.' path segment"),
    (Member("demo/./a"), "empty or '.' path segment"),
    (Member("demo/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "'demo/link' is a symbolic link"),
    (Member("demo/hard", type=tarfile.LNKTYPE, linkname="demo/Chart.yaml"), "'demo/hard' is a hard link"),
    (Member("demo/dev", type=tarfile.CHRTYPE), "'demo/dev' is a device or fifo"),
    (Member("demo/blk", type=tarfile.BLKTYPE), "is a device or fifo"),
    (Member("demo/fifo", type=tarfile.FIFOTYPE), "is a device or fifo"),
    (Member("demo/odd", type=b"V"), "unsupported tar type"),
    (Member("demo/Chart.yaml", b"name: other\n"), "'demo/Chart.yaml' appears more than once"),
    (Member("other/Chart.yaml"), "'other/Chart.yaml' is outside the chart directory 'demo'"),
    (Member("stray.txt"), "'stray.txt' is a file at the top level"),
])
def test_refuses_unsafe_members(member: Member, message: str) -> None:
    assert message in refused(make_chart_tgz(extra_members=[member]))


def test_refuses_non_utf8_member_names() -> None:
    tar = bytearray(tar_bytes([Member("demo/Chart.yaml", b"name: demo\n"), Member("demo/xx")],
                              fmt=tarfile.USTAR_FORMAT))
    off = 1024 + tar[1024:].index(b"demo/xx")
    tar[off + 5:off + 7] = b"\xff\xfe"
    tar[1024 + 148:1024 + 156] = b"        "  # recompute the header checksum
    tar[1024 + 148:1024 + 155] = f"{sum(tar[1024:1536]):06o}\0".encode()
    assert "is not valid UTF-8" in refused(gzip_bytes(bytes(tar)))


def test_refuses_what_is_not_a_gzipped_tar() -> None:
    good = make_chart_tgz()
    assert "not gzip-compressed" in refused(b"PK\x03\x04 a zip file")
    assert "not gzip-compressed" in refused(b"")
    assert "not a valid tar archive" in refused(gzip.compress(b"plain gzip, no tar" * 100))
    assert "truncated" in refused(good[: len(good) // 2])
    assert "not valid gzip data" in refused(good[:10] + b"\xff" * 50)
    assert "trailing data after the gzip stream" in refused(good + b"garbage")
    assert "trailing data after the gzip stream" in refused(good + b"\0")
    assert "archive is empty" in refused(gzip_bytes(tar_bytes([])))
    assert "no demo/Chart.yaml" in refused(make_chart_tgz(chart_yaml=b"", files={"Chart.yaml": None}))
    assert "no demo/Chart.yaml" in refused(make_chart_tgz(files={"Chart.yaml": None,
                                                                 "sub/Chart.yaml": "name: x"}))


def test_refuses_a_truncated_member() -> None:
    tar = tar_bytes([Member("demo/Chart.yaml", b"name: demo\n" * 100)])
    assert "unexpected end of data" in refused(gzip_bytes(tar[:700]))


def too_large(data: bytes, limits: ChartLimits) -> str:
    with pytest.raises(TooLarge) as info:
        read(data, limits)
    return info.value.message


def test_size_limits() -> None:
    tgz = make_chart_tgz(files={f"templates/t{i}.yaml": "x: 1\n" * 50 for i in range(20)})
    assert "larger than the limit of 100 bytes" in too_large(tgz, ChartLimits(max_archive_bytes=100))
    assert "more than 10 members" in too_large(tgz, ChartLimits(max_members=10))
    assert "'demo/templates/t0.yaml' is larger than the limit of 200 bytes" in too_large(
        tgz, ChartLimits(max_member_bytes=200))
    assert "unpacks to more than the limit of 4000 bytes" in too_large(tgz, ChartLimits(max_unpacked_bytes=4000))
    huge_chart_yaml = make_chart_tgz(chart_yaml="description: " + "x" * (1024 * 1024) + "\n")
    assert "for Chart.yaml" in too_large(huge_chart_yaml, LIMITS)


def test_declared_member_size_is_refused_before_reading() -> None:
    # The header claims 1 GiB; only a few bytes follow. Refused from the header, not by reading.
    tar = tar_bytes([Member("demo/Chart.yaml", b"name: demo\n")])[:1024]  # header + one data block
    header = tarfile.TarInfo("demo/big")
    header.size = 1 << 30
    data = gzip_bytes(tar + header.tobuf(tarfile.PAX_FORMAT) + b"\0" * 512)
    assert "'demo/big' is larger than the limit" in too_large(data, LIMITS)


def test_gzip_bomb_is_stopped_early() -> None:
    bomb = make_bomb_tgz(256 * 1024 * 1024)
    assert len(bomb) < 400 * 1024
    generous = ChartLimits(max_member_bytes=1 << 40, max_unpacked_bytes=1 << 40)
    start = time.perf_counter()
    assert "expands more than 200 times" in too_large(bomb, generous)
    assert time.perf_counter() - start < 0.5  # stopped after ~1 MiB, not after 256 MiB


def test_pax_headers_count_towards_the_unpacked_limit() -> None:
    noise = os.urandom(1_500_000).hex()  # incompressible, so the ratio check stays quiet
    tgz = make_chart_tgz(extra_members=[Member("demo/x", pax={"comment": noise})])
    assert "unpacks to more than" in too_large(tgz, ChartLimits(max_unpacked_bytes=2_000_000))


def test_helm_packaged_chart_is_accepted(tmp_path: Path) -> None:
    if shutil.which("helm", path=str(Path(__file__).parents[1] / ".venv" / "bin")) is None \
            and shutil.which("helm") is None:
        pytest.skip("helm is not installed")
    helm = Helm(tmp_path / "home")
    tgz = helm.package("webapp", "1.2.3", tmp_path)
    with tgz.open("rb") as f:
        pkg = inspect_chart(f, LIMITS)
    assert (pkg.metadata.name, pkg.metadata.version, pkg.metadata.app_version) == ("webapp", "1.2.3", "1.2.3")
    assert pkg.metadata.type == "application"
    assert pkg.filename == tgz.name
    assert pkg.digest == "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()
    assert "templates/deployment.yaml" in pkg.templates
    assert pkg.values["replicaCount"] == 1
