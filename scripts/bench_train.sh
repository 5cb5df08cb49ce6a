#!/bin/sh
# Training throughput, lungscope (flex CPU backend) vs the PyTorch reference, back to back
# in one run for the same configurations. Needs a built `lungscope` (BIN) and a Python with
# torch (PY, e.g. a venv made from ../shared/bench/requirements.txt).
#   BIN=target/debug/lungscope PY=$HOME/.cache/bench-venv/bin/python scripts/bench_train.sh [OUT_DIR]
set -eu
BIN=${BIN:-target/debug/lungscope}
PY=${PY:-python3}
OUT=${1:-bench-train-results}
HERE=$(dirname "$0")
mkdir -p "$OUT"
# size batch base out_channels
for cfg in "256 4 32 1" "160 8 12 2" "128 8 16 2"; do
    set -- $cfg
    tag="s$1-b$2-base$3-c$4"
    "$BIN" bench-train --size "$1" --batch-size "$2" --base "$3" --out-channels "$4" --steps 6 \
        --device cpu --json "$OUT/lungscope-$tag.json" 2>/dev/null
    "$PY" "$HERE/bench_train_torch.py" --size "$1" --batch-size "$2" --base "$3" --out-channels "$4" \
        --steps 6 --json "$OUT/pytorch-$tag.json"
    "$PY" "$HERE/bench_train_torch.py" --size "$1" --batch-size "$2" --base "$3" --out-channels "$4" \
        --steps 6 --channels-last --json "$OUT/pytorch-cl-$tag.json"
done
