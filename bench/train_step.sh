#!/usr/bin/env bash
# fp32 training-step speed of lowbit against PyTorch on the same ResNet-8, batch, optimizer and
# thread count, measured in one run; plus GFLOP/s against the machine's measured FMA peak.
#   bash bench/train_step.sh [batch] [threads] [steps]      (needs: scripts/install-deps.sh --bench)
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-128}; threads=${2:-2}; steps=${3:-30}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
peak=$(./build/bench/bench_fma_peak "$threads")
echo "$peak"
lb=$(./build/bench/bench_train_step resnet8 "$batch" "$threads" "$steps")
echo "$lb"
# the same with every convolution on lowbit's own kernels (no oneDNN), for the difference it makes
own=$(LOWBIT_CONV=own ./build/bench/bench_train_step resnet8 "$batch" "$threads" "$steps")
echo "LOWBIT_CONV=own: $own"
pt=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/torch_train_step.py "$batch" "$threads" "$steps")
echo "$pt"
lb_ms=$(echo "$lb" | sed -E 's/.*: ([0-9.]+) ms\/step.*/\1/')
pt_ms=$(echo "$pt" | sed -E 's/.*: ([0-9.]+) ms\/step.*/\1/')
own_ms=$(echo "$own" | sed -E 's/.*: ([0-9.]+) ms\/step.*/\1/')
lb_gf=$(echo "$lb" | sed -E 's/.* ([0-9.]+) GFLOP\/s.*/\1/')
peak_gf=$(echo "$peak" | sed -E 's/.*: ([0-9.]+) GFLOP\/s.*/\1/')
awk -v a="$lb_ms" -v b="$pt_ms" -v o="$own_ms" -v g="$lb_gf" -v p="$peak_gf" 'BEGIN {
  printf "ratio lowbit/pytorch step time: %.2fx (target <= 0.60x); own kernels only: %.2fx\n", a / b, o / b
  printf "lowbit conv/linear GFLOP/s: %.1f of %.1f measured FMA peak (%.0f%%)\n", g, p, 100 * g / p }'
