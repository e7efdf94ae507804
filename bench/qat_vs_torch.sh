#!/usr/bin/env bash
# W/A-bit LSQ quantization-aware training in lowbit against the same recipe in PyTorch
# (bench/torch_lsq.py), both started from one lowbit float model and run in one go, so that the
# claim "lowbit's W4A4 is not worse" is checked against a peer measured on the same machine.
#   bash bench/qat_vs_torch.sh [--model FP32.lbm] [--w 4] [--a 4] [--epochs 5] [--threads 2]
#        [--seed 1] [--limit-train N] [--limit-test N] [--float-epochs N]
# Without --model a float resnet8 is trained first (lowbit's default recipe, --float-epochs
# to shorten it) and kept in $BUILD_DIR/qat_vs_torch_fp32.lbm. BUILD_DIR defaults to build.
# Needs scripts/install-deps.sh --bench (Debian's python3-torch, run with /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
model="" w=4 a=4 epochs=5 threads=2 seed=1 limit_train=0 limit_test=0 float_epochs=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2 ;;
    --w) w=$2 ;;
    --a) a=$2 ;;
    --epochs) epochs=$2 ;;
    --threads) threads=$2 ;;
    --seed) seed=$2 ;;
    --limit-train) limit_train=$2 ;;
    --limit-test) limit_test=$2 ;;
    --float-epochs) float_epochs=$2 ;;
    *) echo "qat_vs_torch.sh: unknown option $1 (see the header of this file)" >&2; exit 2 ;;
  esac
  shift 2
done
limits=()
[ "$limit_train" -gt 0 ] && limits+=(--limit-train "$limit_train")
[ "$limit_test" -gt 0 ] && limits+=(--limit-test "$limit_test")

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$build" -j"$(nproc)" >/dev/null
lowbit=$build/lowbit
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads $threads"
echo "pytorch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"

if [ -z "$model" ]; then
  model=$build/qat_vs_torch_fp32.lbm
  fe=()
  [ "$float_epochs" -gt 0 ] && fe=(--epochs "$float_epochs")
  echo "training a float resnet8 -> $model"
  "$lowbit" train --model resnet8 "${fe[@]}" "${limits[@]}" --seed "$seed" --threads "$threads" --quiet --save "$model" >/dev/null
fi

common=(--model "$model" --w "$w" --a "$a" --epochs "$epochs" --seed "$seed" --threads "$threads" "${limits[@]}")
lb=$("$lowbit" qat --method lsq --backend academic "${common[@]}" --json)
echo "lowbit:  $lb"
pt=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_lsq.py "${common[@]}")
echo "pytorch: $pt"

LB="$lb" PT="$pt" /usr/bin/python3 - <<'EOF'
import json, os, sys
lb, pt = json.loads(os.environ["LB"]), json.loads(os.environ["PT"])
d_float = 100 * (lb["float_accuracy"] - pt["float_accuracy"])
print(f"float model: lowbit {100 * lb['float_accuracy']:.2f}%  pytorch {100 * pt['float_accuracy']:.2f}%"
      f"  ({d_float:+.2f} points; must agree within 0.05)")
print(f"W{lb['w']}A{lb['a']} LSQ, {lb['epochs']} epochs: lowbit {100 * lb['accuracy']:.2f}%"
      f"  pytorch {100 * pt['accuracy']:.2f}%  lowbit - pytorch {100 * (lb['accuracy'] - pt['accuracy']):+.2f} points")
if abs(d_float) > 0.05:
    print("the two float accuracies differ: the PyTorch model is not the lowbit model; the comparison is void",
          file=sys.stderr)
    sys.exit(1)
EOF
