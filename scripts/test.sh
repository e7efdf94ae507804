#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is needed, build with -Werror and run the
# fast tests, then the same under AddressSanitizer + UndefinedBehaviorSanitizer.
# Slow end-to-end checks are labelled "slow": run them with  ctest --test-dir build -L slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
# ONNX Runtime from npm (pinned in package-lock.json); its install script would download, and
# the package already ships its binaries, so scripts are skipped.
if [ ! -f node_modules/onnxruntime-node/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
fi
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLOWBIT_WERROR=ON -DLOWBIT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== sanitizer build (ASan + UBSan) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L fast --output-on-failure -j"$jobs"

echo "== release build =="
ctest --test-dir build -L fast --output-on-failure -j"$jobs"
