#!/usr/bin/env bash
# Integer engine speed against its peers, all measured in this one run on this machine:
#   - PyTorch's int8 resnet8 (bench/int8_vs_torch.py: eager PTQ, onednn engine), batch 256 and batch 1;
#   - lowbit's own fp32 inference of the same float model (lowbit eval, batch 256).
# lowbit's side: a resnet8 trained briefly (speed does not depend on accuracy), PTQ W8A8 under the
# tensorrt profile, lowered with lowbit deploy, timed with lowbit run (engine time only) on the
# Fashion-MNIST test split. Targets (issue 4): >= 1.0x PyTorch int8 at batch 256, >= 2.5x own
# fp32, batch-1 latency <= 0.5x PyTorch's.
#   bash bench/int8_vs_torch.sh [--threads 2]        (BUILD_DIR defaults to build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
threads=2
[ "${1:-}" = "--threads" ] && threads=$2
L="$build/lowbit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$L" train --model resnet8 --epochs 1 --limit-train 2048 --no-test --quiet --threads "$threads" --save "$work/f.lbm" >/dev/null
"$L" ptq --model "$work/f.lbm" --backend tensorrt --w 8 --a 8 --calib 256 --limit-test 256 --quiet \
  --threads "$threads" --save "$work/q.lbm" >/dev/null
"$L" deploy --model "$work/q.lbm" --backend tensorrt -o "$work/q.lbp" >/dev/null
num() { sed "s/.*\"$1\": *\([0-9.]*\).*/\1/"; }
int_b256=$("$L" run --program "$work/q.lbp" --data fashion-mnist --batch 256 --threads "$threads" --quiet --json | num images_per_second)
int_b1=$("$L" run --program "$work/q.lbp" --data fashion-mnist --batch 1 --limit 1000 --threads "$threads" --quiet --json | num images_per_second)
fp32=$("$L" eval --model "$work/f.lbm" --batch 256 --threads "$threads" --json)
fp32_ips=$(awk -v j="$fp32" 'BEGIN { match(j, /"images":[0-9]+/); n = substr(j, RSTART + 9, RLENGTH - 9);
  match(j, /"seconds":[0-9.]+/); s = substr(j, RSTART + 10, RLENGTH - 10); printf "%.1f", n / s }')
torch=$(/usr/bin/python3 bench/int8_vs_torch.py --threads "$threads")
torch_b256=$(echo "$torch" | num images_per_second_b256)
torch_lat=$(echo "$torch" | num latency_b1_ms)
awk -v ib="$int_b256" -v i1="$int_b1" -v f="$fp32_ips" -v tb="$torch_b256" -v tl="$torch_lat" -v th="$threads" 'BEGIN {
  il = 1000 / i1
  printf "resnet8 W8A8 (tensorrt profile), %d threads\n", th
  printf "  lowbit int8 engine   %9.1f img/s (batch 256)   %8.3f ms (batch 1)\n", ib, il
  printf "  PyTorch int8 onednn  %9.1f img/s (batch 256)   %8.3f ms (batch 1)\n", tb, tl
  printf "  lowbit fp32 (eval)   %9.1f img/s (batch 256, includes batch assembly)\n", f
  printf "  ratios: vs PyTorch int8 %.2fx (target >= 1.0), vs own fp32 %.2fx (target >= 2.5), batch-1 latency %.2fx of PyTorch (target <= 0.5)\n", ib / tb, ib / f, il / tl }'
