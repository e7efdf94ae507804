#!/usr/bin/env bash
# Whole-program speed of binary resnet8 (W1A1: 8 of its 10 weighted layers on the XNOR-popcount
# kernels, the sign steps, the bit packing) against the int8 program of the same float model,
# both on the qdq profile, measured back to back in each of --rounds rounds (best of --tries runs
# of 10 batches of 256, lowbit run on the Fashion-MNIST test split; engine time only).
#   bash bench/binary_vs_int8.sh [--threads 2] [--rounds 3] [--tries 5]   (BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/rounds_setup.sh
for wa in 1 8; do
  "$L" ptq --model "$work/f.lbm" --backend qdq --w "$wa" --a "$wa" --calib 256 --limit-test 256 --quiet \
    --threads "$threads" --save "$work/q$wa.lbm" >/dev/null 2>&1
  "$L" deploy --model "$work/q$wa.lbm" -o "$work/q$wa.lbp" >/dev/null
done
xnor=$("$L" info "$work/q1.lbp" --json | sed 's/.*"xnor_steps":\([0-9]*\).*/\1/')
ips() { "$L" run --program "$1" --data fashion-mnist --threads "$threads" --quiet --json --batch 256 --limit 2560 |
  sed 's/.*"images_per_second": *\([0-9.]*\).*/\1/'; }
best() { local b=0 v; for _ in $(seq "$tries"); do v=$(ips "$1"); b=$(awk -v a="$b" -v c="$v" 'BEGIN { print (c > a ? c : a) }'); done; echo "$b"; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads; kernels $("$L" info "$work/q1.lbp" --json | sed 's/.*"kernels":"\([^"]*\)".*/\1/'); $xnor XNOR steps (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
ratios=""
for r in $(seq "$rounds"); do
  b=$(best "$work/q1.lbp")
  i=$(best "$work/q8.lbp")
  ratio=$(awk -v b="$b" -v i="$i" 'BEGIN { printf "%.2f", b / i }')
  ratios="$ratios $ratio"
  echo "round $r: binary $b img/s, int8 $i img/s, binary/int8 ${ratio}x"
done
echo "$ratios" | awk '{ n = split($0, v, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
  printf "median binary/int8 (whole resnet8, batch 256): %.2fx\n", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
