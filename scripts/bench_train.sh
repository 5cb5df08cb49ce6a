#!/bin/sh
# Training throughput, lungscope (its CPU training engine, and burn's flex backend for
# comparison) against the PyTorch reference in both layouts, alternating in one run for
# the same configurations, ROUNDS rounds (default 3); prints the best round of each and
# the ratios. Needs a built `lungscope` (BIN) and a Python with torch (PY, e.g. a venv
# made from ../shared/bench/requirements.txt).
#   BIN=target/debug/lungscope PY=$HOME/.cache/bench-venv/bin/python ROUNDS=3 \
#     scripts/bench_train.sh [OUT_DIR]
# FLEX=0 leaves burn's flex backend out (it is 3x slower than the engine).
set -eu
BIN=${BIN:-target/debug/lungscope}
PY=${PY:-python3}
ROUNDS=${ROUNDS:-3}
FLEX=${FLEX:-1}
OUT=${1:-bench-train-results}
HERE=$(dirname "$0")
mkdir -p "$OUT"
# size batch base out_channels steps
CONFIGS="256 4 32 1 4|160 8 12 2 6|128 8 16 2 6"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    echo "round $round" >&2
    IFS='|'
    for cfg in $CONFIGS; do
        IFS=' '
        set -- $cfg
        tag="s$1-b$2-base$3-c$4"
        "$BIN" bench-train --size "$1" --batch-size "$2" --base "$3" --out-channels "$4" \
            --steps "$5" --device cpu --cpu-engine native \
            --json "$OUT/engine-$tag-r$round.json" 2>/dev/null
        if [ "$FLEX" = 1 ]; then
            "$BIN" bench-train --size "$1" --batch-size "$2" --base "$3" --out-channels "$4" \
                --steps "$5" --device cpu --cpu-engine flex \
                --json "$OUT/flex-$tag-r$round.json" 2>/dev/null
        fi
        "$PY" "$HERE/bench_train_torch.py" --size "$1" --batch-size "$2" --base "$3" \
            --out-channels "$4" --steps "$5" --json "$OUT/pytorch-$tag-r$round.json"
        "$PY" "$HERE/bench_train_torch.py" --size "$1" --batch-size "$2" --base "$3" \
            --out-channels "$4" --steps "$5" --channels-last \
            --json "$OUT/pytorch-cl-$tag-r$round.json"
        IFS='|'
    done
    IFS=' '
    round=$((round + 1))
done
"$PY" - "$OUT" <<'EOF'
import glob, json, os, re, sys
out = sys.argv[1]
best = {}
for path in glob.glob(os.path.join(out, "*.json")):
    m = re.match(r"(engine|flex|pytorch-cl|pytorch)-(s\d+-b\d+-base\d+-c\d+)-r(\d+)\.json", os.path.basename(path))
    if not m:
        continue
    runner, tag, _ = m.groups()
    with open(path) as f:
        ips = json.load(f)["images_per_sec"]
    key = (tag, runner)
    best.setdefault(key, []).append(ips)
tags = sorted({t for t, _ in best})
print("configuration | engine | flex | PyTorch NCHW | PyTorch channels-last | engine / best PyTorch")
for t in tags:
    row = {r: max(best.get((t, r), [float("nan")])) for r in ("engine", "flex", "pytorch", "pytorch-cl")}
    ref = max(row["pytorch"], row["pytorch-cl"])
    rounds = {r: ", ".join(f"{v:.2f}" for v in best.get((t, r), [])) for r in row}
    print(f"{t} | {row['engine']:.2f} ({rounds['engine']}) | {row['flex']:.2f} | "
          f"{row['pytorch']:.2f} ({rounds['pytorch']}) | {row['pytorch-cl']:.2f} ({rounds['pytorch-cl']}) | "
          f"{row['engine'] / ref:.2f}x")
EOF
