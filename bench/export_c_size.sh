#!/bin/sh
# Footprint of a program exported as C source (lowbit export --c): resnet8 (1x28x28, Fashion-MNIST,
# briefly trained: sizes do not depend on the weights) quantized for fbgemm at W8A8 and W4A4,
# lowered, exported, and compiled with -Os for the host and, when clang is there, for a Cortex-M4
# (compile only: the M4 libm's rintf is not linked). Prints the header's declared sizes, the
# compiled object's sections, and the W4A4/W8A8 ratios measured in the same run.
#
#   sh bench/export_c_size.sh [build-dir=build] [work-dir=a fresh temporary directory]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
WORK=${2:-$(mktemp -d)}
LOWBIT=$BUILD/lowbit
CC=${CC:-cc}
mkdir -p "$WORK"
echo "work dir: $WORK"

"$LOWBIT" train --model resnet8 --epochs 1 --limit-train 1024 --no-test --quiet --save "$WORK/r8.lbm" > /dev/null
# the M4 compile sees only a declaration of rintf (no newlib here)
mkdir -p "$WORK/mcu"
echo 'float rintf(float);' > "$WORK/mcu/math.h"

field() { sed -n "s/^#define [A-Z0-9_]*_$2 \([0-9]*\).*/\1/p" "$1"; }

for b in 8 4; do
  n=resnet8_w${b}a${b}
  "$LOWBIT" ptq --model "$WORK/r8.lbm" --backend fbgemm --w $b --a $b --calib 256 --limit-test 256 --quiet \
    --save "$WORK/$n.lbm" > /dev/null
  "$LOWBIT" deploy --model "$WORK/$n.lbm" -o "$WORK/$n.lbp" > /dev/null
  "$LOWBIT" export --program "$WORK/$n.lbp" --c "$WORK/$n" > /dev/null
  "$CC" -std=c11 -Os -Wall -Wextra -Werror -I"$ROOT/runtime" -c "$WORK/$n.c" -o "$WORK/$n.o"
  w=$(field "$WORK/$n.h" WEIGHT_BYTES); k=$(field "$WORK/$n.h" CONST_BYTES); a=$(field "$WORK/$n.h" ARENA_BYTES)
  host=$(size -A "$WORK/$n.o" | awk '$1 ~ /^\.(text|rodata)/ {f += $2} $1 == ".bss" {r += $2} END {print f, r}')
  m4="-"
  if command -v clang > /dev/null && command -v llvm-size > /dev/null; then
    clang --target=thumbv7em-none-eabihf -mcpu=cortex-m4 -mfloat-abi=hard -ffreestanding -std=c11 -Os -Wall -Wextra \
      -Werror -isystem "$WORK/mcu" -I"$ROOT/runtime" -c "$WORK/$n.c" -o "$WORK/$n.m4.o"
    m4=$(llvm-size -A "$WORK/$n.m4.o" | awk '$1 ~ /^\.(text|rodata)/ {f += $2} $1 == ".bss" {r += $2} END {print f "/" r}')
  fi
  echo "$n weights=$w consts=$k arena=$a host_flash/ram=$(echo $host | tr ' ' /) m4_flash/ram=$m4" | tee -a "$WORK/sizes.txt"
done

"$CC" -std=c11 -Os -Wall -Wextra -Werror -c "$ROOT/runtime/lbrt.c" -o "$WORK/lbrt.o"
echo "runtime lbrt.o host text: $(size -A "$WORK/lbrt.o" | awk '$1 ~ /^\.text/ {f += $2} END {print f}') bytes"
if command -v clang > /dev/null && command -v llvm-size > /dev/null; then
  clang --target=thumbv7em-none-eabihf -mcpu=cortex-m4 -mfloat-abi=hard -ffreestanding -std=c11 -Os -Wall -Wextra \
    -Werror -isystem "$WORK/mcu" -c "$ROOT/runtime/lbrt.c" -o "$WORK/lbrt.m4.o"
  echo "runtime lbrt.o Cortex-M4 text: $(llvm-size -A "$WORK/lbrt.m4.o" | awk '$1 ~ /^\.text/ {f += $2} END {print f}') bytes"
fi
awk '{for (i = 2; i <= NF; i++) {split($i, kv, "="); v[NR, kv[1]] = kv[2]}}
     END {printf "W4A4 / W8A8: weights %.3fx, arena %.3fx\n", v[2, "weights"] / v[1, "weights"], v[2, "arena"] / v[1, "arena"]}' \
  "$WORK/sizes.txt"
