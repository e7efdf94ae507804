# Sourced by the engine speed scripts: parses [--threads N] [--rounds N] [--tries N] (usage
# names the calling script), sets L (the CLI in BUILD_DIR, default build) and a work directory
# removed on exit, and trains the short resnet8 every program is lowered from ($work/f.lbm:
# speed does not depend on accuracy).
build=${BUILD_DIR:-build}
threads=2
rounds=3
tries=5
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --tries) tries=$2; shift 2 ;;
    *) echo "usage: bash $0 [--threads N] [--rounds N] [--tries N]" >&2; exit 2 ;;
  esac
done
L="$build/lowbit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$L" train --model resnet8 --epochs 1 --limit-train 2048 --no-test --quiet --threads "$threads" --save "$work/f.lbm" >/dev/null
