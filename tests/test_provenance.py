"""Provenance files: real ones from ``helm package --sign`` and hand-made broken ones."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appmarket.errors import Invalid
from appmarket.repo.chart_package import ChartPackage, inspect_chart
from appmarket.repo.provenance import check_provenance, parse_provenance
from appmarket.settings import ChartLimits
from tests.support.charts import fake_signature_packet, make_chart_tgz, make_prov
from tests.support.helm import Helm


def package(tgz: bytes) -> ChartPackage:
    return inspect_chart(io.BytesIO(tgz), ChartLimits())


@pytest.fixture(scope="module")
def chart() -> ChartPackage:
    return package(make_chart_tgz("demo", "0.1.0"))


def prov_for(chart: ChartPackage, **kw: object) -> bytes:
    meta = {"apiVersion": "v2", "name": chart.metadata.name, "version": chart.metadata.version,
            "description": "A test chart", "keywords": ["-leading-dash", "web"]}
    return make_prov(meta, {chart.filename: chart.digest}, **kw)  # type: ignore[arg-type]


def test_hand_made_provenance_is_accepted(chart: ChartPackage) -> None:
    info = check_provenance(prov_for(chart), chart)
    assert (info.name, info.version) == ("demo", "0.1.0")
    assert info.files == {"demo-0.1.0.tgz": chart.digest}
    assert info.hash_algorithms == ["SHA512"]
    assert info.key_id == bytes(range(20)).hex().upper()
    assert info.metadata["keywords"] == ["-leading-dash", "web"]  # dash-escaped lines undone
    assert "\n- -leading-dash\n" in info.signed_text
    assert info.signature == fake_signature_packet()
    assert check_provenance(prov_for(chart, crc=False), chart).files == info.files
    crlf = prov_for(chart).replace(b"\n", b"\r\n")
    assert check_provenance(crlf, chart).files == info.files


def test_key_id_from_issuer_subpacket_only(chart: ChartPackage) -> None:
    sig = bytes([4, 0x01, 1, 10, 0, 0, 0, 10, 9, 16]) + bytes.fromhex("0123456789abcdef") + b"\xab\xcd\x00"
    info = check_provenance(prov_for(chart, signature=bytes([0x88, len(sig)]) + sig), chart)  # old format
    assert info.key_id == "0123456789ABCDEF"


def refused(prov: bytes, chart: ChartPackage) -> str:
    with pytest.raises(Invalid) as info:
        check_provenance(prov, chart)
    return info.value.message


def test_provenance_must_name_this_package(chart: ChartPackage) -> None:
    other = package(make_chart_tgz("demo", "0.1.0", description="different bytes"))
    assert f"names digest {chart.digest} for demo-0.1.0.tgz, but the package digest is {other.digest}" \
        in refused(prov_for(chart), other)
    renamed = make_prov({"name": "demo", "version": "0.1.0"}, {"other-0.1.0.tgz": chart.digest})
    assert "does not list demo-0.1.0.tgz" in refused(renamed, chart)
    wrong = make_prov({"name": "demo", "version": "0.2.0"}, {"demo-0.1.0.tgz": chart.digest})
    assert "is for chart demo 0.2.0, not demo 0.1.0" in refused(wrong, chart)


def swap(prov: bytes, old: str, new: str) -> bytes:
    text = prov.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def test_structural_refusals(chart: ChartPackage) -> None:
    good = prov_for(chart)
    cases = [
        (b"just text", "not an OpenPGP clearsigned message"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * (1024 * 1024 + 1), "larger than"),
        (swap(good, "Hash: SHA512\n", ""), "no 'Hash:' header"),
        (swap(good, "Hash: SHA512", "Hash: MD5"), "unsupported hash algorithm: MD5"),
        (swap(good, "Hash: SHA512", "Comment: hi"), "unexpected clearsign header"),
        (swap(good, "\n- - web\n", "\n-web\n"), "not dash-escaped"),
        (swap(good, "\n...\n", "\n"), "a '...' line and the file digests"),
        (swap(good, chart.digest, "md5:abc"), "is not 'sha256:<64 hex>'"),
        (swap(good, "files:", "other:"), "'files:' mapping"),
        (good.split(b"-----BEGIN PGP SIGNATURE-----")[0], "no signature block"),
        (swap(good, "-----END PGP SIGNATURE-----", ""), "no end line"),
        (good + b"more\n", "data after the signature block"),
        (swap(good, "-----BEGIN PGP SIGNATURE-----\n\n", "-----BEGIN PGP SIGNATURE-----\nx\n"), "malformed"),
        (swap(good, "-----BEGIN PGP SIGNATURE-----\n\n", "-----BEGIN PGP SIGNATURE-----\n\n!!!!\n"),
         "not valid base64"),
        (make_prov({"name": "demo", "version": "0.1.0"}, {"demo-0.1.0.tgz": chart.digest}, signature=b""),
         "signature block is empty"),
        (make_prov({"name": "demo", "version": "0.1.0"}, {"demo-0.1.0.tgz": chart.digest},
                   signature=bytes([0xC6, 1, 0])), "packet of type 6, not a signature"),
        (make_prov({"name": "demo", "version": "0.1.0"}, {"demo-0.1.0.tgz": chart.digest},
                   signature=b"\x01\x02"), "does not hold an OpenPGP packet"),
        (make_prov("- just a list\n", {"demo-0.1.0.tgz": chart.digest}), "mapping with a name and a version"),
    ]
    for prov, message in cases:
        assert message in refused(prov, chart), message


def test_crc_mismatch(chart: ChartPackage) -> None:
    good = prov_for(chart).decode()
    line = next(x for x in good.splitlines() if x.startswith("=") and len(x) == 5)
    bad = base64.b64encode(bytes(3)).decode()
    assert "CRC-24" in refused(good.replace(line, f"={bad}").encode(), chart)


def test_parse_provenance_alone(chart: ChartPackage) -> None:
    info = parse_provenance(prov_for(chart))
    assert info.files[f"{info.name}-{info.version}.tgz"] == chart.digest


# -- real signatures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gnupg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path, str]]:
    """A throwaway GnuPG home with one signing key; yields (env, secret keyring file, fingerprint)."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run([*gpg, "--quick-gen-key", "AppMarket Test <test@example.com>", "rsa2048", "sign", "never"],
                       env=env, check=True, capture_output=True, timeout=120)
        secring = home / "secring.gpg"
        secring.write_bytes(subprocess.run([*gpg, "--export-secret-keys"], env=env, check=True,
                                           capture_output=True, timeout=60).stdout)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                                 capture_output=True, text=True, timeout=60).stdout
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        yield env, secring, fpr
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True, timeout=60)


@pytest.mark.slow
def test_helm_signed_provenance(tmp_path: Path, gnupg: tuple[dict[str, str], Path, str]) -> None:
    _, secring, fingerprint = gnupg
    helm = Helm(tmp_path / "home")
    helm.run("create", "signed", cwd=tmp_path)
    chart_yaml = tmp_path / "signed" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text() + "keywords:\n- web\n- demo\n")
    helm.run("package", "--sign", "--key", "AppMarket Test", "--keyring", str(secring),
             str(tmp_path / "signed"), "-d", str(tmp_path / "out"))
    tgz = tmp_path / "out" / "signed-0.1.0.tgz"
    prov = (tmp_path / "out" / "signed-0.1.0.tgz.prov").read_bytes()
    assert b"\n- - web\n" in prov  # helm's clearsign escapes the keyword lines
    pkg = package(tgz.read_bytes())
    info = check_provenance(prov, pkg)
    assert (info.name, info.version, info.files) == ("signed", "0.1.0", {"signed-0.1.0.tgz": pkg.digest})
    assert info.hash_algorithms == ["SHA512"]
    assert info.key_id == fingerprint
    assert info.metadata["keywords"] == ["web", "demo"]
    other = package(make_chart_tgz("signed", "0.1.0"))
    with pytest.raises(Invalid, match="but the package digest is"):
        check_provenance(prov, other)
