#!/bin/sh
# The README's main job: the whole lowbit flow on Fashion-MNIST in a few minutes on 2 cores.
#   train a float LeNet-5 (or reuse one) -> QAT at 4 bits (W4A4, fbgemm profile: per-channel
#   affine weights, unsigned affine activations, adds and pools quantized; first/last layer at
#   8 bits) -> deploy to an integer program -> verify it against the deploy-exact simulation
#   (0 LSB required) -> integer accuracy on the whole test set.
# Usage: scripts/main-job.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, main-job)
set -eu
BUILD=${1:-build}
WORK=${2:-main-job}
LOWBIT="$BUILD/lowbit"
[ -x "$LOWBIT" ] || { echo "main-job: $LOWBIT not found; build first (cmake --build $BUILD)" >&2; exit 2; }
mkdir -p "$WORK"
t0=$(date +%s)

if [ -f "$WORK/float.lbm" ]; then
  echo "== 1/5 float model: reusing $WORK/float.lbm"
else
  echo "== 1/5 training a float LeNet-5 on Fashion-MNIST"
  "$LOWBIT" train --model lenet5 --epochs 2 --save "$WORK/float.lbm"
fi
float_json=$("$LOWBIT" eval --model "$WORK/float.lbm" --json)

echo "== 2/5 quantization-aware training at 4 bits (LSQ, fbgemm profile)"
"$LOWBIT" qat --model "$WORK/float.lbm" --backend fbgemm --method lsq --w 4 --a 4 --epochs 1 --limit-train 20000 --save "$WORK/w4a4.lbm"

echo "== 3/5 lowering to an integer program"
"$LOWBIT" deploy --model "$WORK/w4a4.lbm" --backend fbgemm -o "$WORK/w4a4.lbp"

echo "== 4/5 verify: integer program vs deploy-exact simulation, unit by unit"
"$LOWBIT" verify --model "$WORK/w4a4.lbm" --program "$WORK/w4a4.lbp" --images 2000 > "$WORK/verify.txt" || {
  cat "$WORK/verify.txt"; echo "main-job: verify FAILED" >&2; exit 1; }
cat "$WORK/verify.txt"

echo "== 5/5 integer inference on the whole test set"
run_json=$("$LOWBIT" run --program "$WORK/w4a4.lbp" --data fashion-mnist --accuracy --json)
echo "$run_json"

t1=$(date +%s)
float_acc=$(echo "$float_json" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
int_acc=$(echo "$run_json" | sed 's/.*"accuracy":\([0-9.]*\).*/\1/')
ips=$(echo "$run_json" | sed 's/.*"images_per_second":\([0-9.]*\).*/\1/')
echo
echo "== summary"
awk -v f="$float_acc" -v i="$int_acc" -v s="$ips" -v t=$((t1 - t0)) 'BEGIN {
  printf "float LeNet-5 accuracy         %6.2f%%\n", 100 * f
  printf "W4A4 integer program accuracy  %6.2f%%  (verify: 0 LSB against the simulation)\n", 100 * i
  printf "integer inference              %6.0f images/s\n", s
  printf "total time                     %6d s\n", t }'
