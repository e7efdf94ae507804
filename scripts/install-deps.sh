#!/usr/bin/env bash
# Install the Debian 12 packages lowbit needs to build, run its main job and run its tests.
# Works as root or through sudo. Pass --test to add what the test suite checks against (ONNX
# Runtime through node, Chromium for the report page, ONNX's operator test data), --bench to add
# what bench/ compares against (PyTorch).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# ocl-icd-opencl-dev: only a Recommends of libdnnl-dev, but oneDNN's CMake package requires it
packages=(build-essential cmake pkg-config libopenblas-openmp-dev zlib1g-dev dataset-fashion-mnist
          libonnx-dev protobuf-c-compiler libprotobuf-c-dev libcjson-dev
          libdnnl-dev ocl-icd-opencl-dev)
for arg in "$@"; do
  case "$arg" in
    --test)
      packages+=(chromium fonts-dejavu-core libonnx-testdata)
      # any node + npm will do (a machine may have them from elsewhere than Debian)
      if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi ;;
    --bench) packages+=(python3-torch hyperfine) ;;
    *) echo "install-deps.sh: unknown option $arg (--test, --bench)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
