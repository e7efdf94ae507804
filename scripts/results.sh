#!/usr/bin/env bash
# Reproduce the tables of docs/results.md: train lenet5 and resnet8 with their default recipes
# on Fashion-MNIST, then quantize the resnet8 (PTQ and QAT). Prints Markdown tables.
# About 35 minutes on 2 cores; QUANT=0 skips the quantization table (about 15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
field() { sed -E "s/.*\"$2\":\"?([^,\"}]*).*/\1/" "$1"; }
pct() { awk -v a="$1" 'BEGIN { printf "%.2f%%", 100 * a }'; }
drop() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", 100 * (a - b) }'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; commit $(git rev-parse --short HEAD)"
echo
echo "| model | recipe | seed | test accuracy | training time |"
echo "|---|---|---|---|---|"
for m in lenet5 resnet8; do
  ./build/lowbit train --model "$m" --seed 1 --save "$out/$m.lbm" --json --quiet > "$out/$m.json"
  echo "| $m | default, $(field "$out/$m.json" epochs) epochs | 1 | $(pct "$(field "$out/$m.json" test_accuracy)") | $(field "$out/$m.json" seconds | cut -d. -f1) s |"
done
[ "${QUANT:-1}" = "0" ] && exit 0

echo
echo "| resnet8 quantized | command | test accuracy | vs fp32 |"
echo "|---|---|---|---|"
run() { # label, then the lowbit arguments
  local label=$1; shift
  ./build/lowbit "$@" --model "$out/resnet8.lbm" --json --quiet > "$out/q.json"
  echo "| $label | \`lowbit $*\` | $(pct "$(field "$out/q.json" accuracy)") | $(drop "$(field "$out/q.json" accuracy)" "$(field "$out/q.json" float_accuracy)") |"
}
run "PTQ W8A8, min/max" ptq --w 8 --a 8
run "PTQ W8A8, MSE" ptq --w 8 --a 8 --observer mse
run "QAT LSQ W4A4" qat --method lsq --w 4 --a 4
run "QAT PACT W4A4" qat --method pact --w 4 --a 4
run "QAT DoReFa W4A4" qat --method dorefa --w 4 --a 4
run "QAT LSQ W2A2" qat --method lsq --w 2 --a 2
