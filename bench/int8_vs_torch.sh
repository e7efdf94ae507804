#!/usr/bin/env bash
# Integer engine speed against its peers, all measured in this one run on this machine:
#   - PyTorch's int8 resnet8 (bench/int8_vs_torch.py: eager PTQ, onednn engine), batch 256 and batch 1;
#   - lowbit's own fp32 inference of the same float model (lowbit eval, batch 256).
# lowbit's side: a resnet8 trained briefly (speed does not depend on accuracy), PTQ W8A8 under the
# tensorrt profile, lowered with lowbit deploy, timed with lowbit run (engine time only) on the
# Fashion-MNIST test split. Targets (issue 4): >= 1.0x PyTorch int8 at batch 256, >= 2.5x own
# fp32, batch-1 latency <= 0.5x PyTorch's.
# The machine is shared, so the three sides are measured back to back in each of --rounds rounds
# (default 3), each side taking its best of --tries runs (default 5) of 10 batches of 256 (lowbit:
# the first 2,560 test images; PyTorch: 10 batches) and of 300 (lowbit) or 500 (PyTorch) single
# images, and the ratios of each round are printed with their
# median: a round in which another job took the cores shows as an outlier instead of deciding
# the result.
#   bash bench/int8_vs_torch.sh [--threads 2] [--rounds 3] [--tries 5]   (BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/rounds_setup.sh
"$L" ptq --model "$work/f.lbm" --backend tensorrt --w 8 --a 8 --calib 256 --limit-test 256 --quiet \
  --threads "$threads" --save "$work/q.lbm" >/dev/null
"$L" deploy --model "$work/q.lbm" --backend tensorrt -o "$work/q.lbp" >/dev/null
num() { sed "s/.*\"$1\": *\([0-9.]*\).*/\1/"; }
# best (largest) of $tries outputs of a command printing one number
best() { local b=0 v; for _ in $(seq "$tries"); do v=$("$@"); b=$(awk -v a="$b" -v c="$v" 'BEGIN { print (c > a ? c : a) }'); done; echo "$b"; }
int_run() { "$L" run --program "$work/q.lbp" --data fashion-mnist --threads "$threads" --quiet --json "$@" | num images_per_second; }
fp32_run() {
  local j; j=$("$L" eval --model "$work/f.lbm" --batch 256 --limit 2560 --threads "$threads" --json)
  awk -v j="$j" 'BEGIN { match(j, /"images":[0-9]+/); n = substr(j, RSTART + 9, RLENGTH - 9);
    match(j, /"seconds":[0-9.]+/); s = substr(j, RSTART + 10, RLENGTH - 10); printf "%.1f", n / s }'
}
echo "resnet8 W8A8 (tensorrt profile), $threads threads, $rounds rounds of best-of-$tries (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
for r in $(seq "$rounds"); do
  int_b256=$(best int_run --batch 256 --limit 2560)
  int_b1=$(best int_run --batch 1 --limit 300)
  fp32_ips=$(best fp32_run)
  torch=$(/usr/bin/python3 bench/int8_vs_torch.py --threads "$threads" --tries "$tries")
  torch_b256=$(echo "$torch" | num images_per_second_b256)
  torch_lat=$(echo "$torch" | num latency_b1_ms)
  awk -v r="$r" -v ib="$int_b256" -v i1="$int_b1" -v f="$fp32_ips" -v tb="$torch_b256" -v tl="$torch_lat" 'BEGIN {
    il = 1000 / i1
    printf "round %d: lowbit int8 %8.1f img/s (b256) %7.3f ms (b1) | PyTorch int8 %8.1f img/s %7.3f ms | lowbit fp32 %8.1f img/s\n", r, ib, il, tb, tl, f
    printf "round %d ratios: %.3f %.3f %.3f\n", r, ib / tb, ib / f, il / tl }'
done | tee "$work/rounds.txt" | grep -v ' ratios: '
awk 'BEGIN { n = 0 } / ratios: / { a[n] = $4; b[n] = $5; c[n] = $6; n++ }
  function med(v, n,   i, j, t) {
    for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }
  END {
    printf "per round: vs PyTorch int8 (b256)"; for (i = 0; i < n; i++) printf " %.2fx", a[i]; printf "\n"
    printf "per round: vs own fp32 (b256)    "; for (i = 0; i < n; i++) printf " %.2fx", b[i]; printf "\n"
    printf "per round: b1 latency / PyTorch  "; for (i = 0; i < n; i++) printf " %.2fx", c[i]; printf "\n"
    printf "median: vs PyTorch int8 %.2fx (target >= 1.0), vs own fp32 %.2fx (target >= 2.5), batch-1 latency %.2fx of PyTorch (target <= 0.5)\n",
      med(a, n), med(b, n), med(c, n) }' "$work/rounds.txt"
