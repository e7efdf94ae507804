#!/usr/bin/env bash
# Reproduce the accuracy table of docs/results.md: train each model with its default recipe on
# Fashion-MNIST and print one Markdown row per run. Takes about 15 minutes on 2 cores.
#   bash scripts/results.sh [models...]        (default: lenet5 resnet8)
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(lenet5 resnet8)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
out=$(mktemp -d)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; commit $(git rev-parse --short HEAD)"
echo "| model | recipe | seed | test accuracy | training time |"
echo "|---|---|---|---|---|"
for m in "${models[@]}"; do
  ./build/lowbit train --model "$m" --seed 1 --save "$out/$m.lbm" --json --quiet > "$out/$m.json"
  awk -v m="$m" '{
    match($0, /"test_accuracy":[0-9.]+/); acc = substr($0, RSTART + 16, RLENGTH - 16)
    match($0, /"seconds":[0-9.]+/); sec = substr($0, RSTART + 10, RLENGTH - 10)
    match($0, /"epochs":[0-9]+/); ep = substr($0, RSTART + 9, RLENGTH - 9)
    printf "| %s | default, %s epochs | 1 | %.2f%% | %.0f s |\n", m, ep, 100 * acc, sec }' "$out/$m.json"
done
rm -rf "$out"
