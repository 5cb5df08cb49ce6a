#!/usr/bin/env bash
# Reference U-Net inference: lungscope (its CPU engine, burn's flex backend, and
# wgpu where an adapter exists) against PyTorch on the same machine, in one run.
# See docs/segmentation.md.
#
#   benches/unet_compare.sh                 # CPU: batch 1 and 8, 3 timed runs each, 2 rounds
#   ROUNDS=3 REPEAT=5 benches/unet_compare.sh
#   GPU=1 benches/unet_compare.sh           # also the wgpu backend (lavapipe is slow)
#   VENV=/path/to/venv benches/unet_compare.sh
#
# SHARED=DIR points at the shared folder (default ../shared next to the checkout).
# Needs: a built lungscope (cargo build), and a Python venv with the packages of
# ../shared/bench/requirements.txt (default: $HOME/.cache/bench-venv).
# Writes target/bench/{lungscope,torch}-ROUND.json and prints the tables, then the
# best round of each backend side by side.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bench="${SHARED:-$root/../shared}/bench"
venv="${VENV:-$HOME/.cache/bench-venv}"
out="$root/target/bench"
repeat="${REPEAT:-3}"
mkdir -p "$out"
bin="${LUNGSCOPE:-${CARGO_TARGET_DIR:-$root/target}/debug/lungscope}"
[ -x "$bin" ] || { echo "build lungscope first (cargo build), or set LUNGSCOPE=path" >&2; exit 1; }
# A private copy, so a concurrent build cannot replace the binary mid-run.
cp "$bin" "$out/lungscope"

devices=(cpu flex)
[ "${GPU:-0}" = 1 ] && devices+=(gpu)

# The machine is shared: run ROUNDS rounds of (PyTorch, lungscope) back to back and
# compare the best round of each. PyTorch's run also measures this CPU's sgemm
# peak, used for the "% of peak" columns of lungscope's tables.
rounds="${ROUNDS:-2}"
peak=195
have_torch=0
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch" 2>/dev/null; then
    have_torch=1
else
    echo "no PyTorch in $venv: compare with $bench/results/unet_torch.json instead"
fi
rm -f "$out"/torch-*.json "$out"/lungscope-*.json
for r in $(seq 1 "$rounds"); do
    if [ "$have_torch" = 1 ]; then
        echo "== round $r: PyTorch reference (unet_torch.py, 2 threads, NCHW and channels-last)"
        (cd "$bench" && "$venv/bin/python" unet_torch.py --sizes 256 --batches 1 8 \
            --repeat "$repeat" --channels-last --train-batch 1 --train-steps 1 --gemm-n 2048 \
            --wait-idle 5 --json "$out/torch-$r.json") | grep -E "^(torch|sgemm|infer|CPU|params)"
        peak="$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["peak_gflops"], 1))' "$out/torch-$r.json")"
    fi
    echo "== round $r: lungscope bench-infer (${devices[*]}), sgemm peak $peak GFLOP/s"
    "$out/lungscope" bench-infer --device "${devices[@]}" --batch 1 8 --repeat "$repeat" \
        --peak-gflops "$peak" --json "$out/lungscope-$r.json"
    echo "== round $r: lungscope CPU engine without Winograd (im2col + GEMM for every 3x3 convolution)"
    "$out/lungscope" bench-infer --device cpu --conv im2col --batch 1 8 --repeat "$repeat" \
        --peak-gflops "$peak" --json "$out/lungscope-im2col-$r.json" | grep -E "^\| CPU"
done

if [ "$have_torch" = 1 ]; then
    echo
    echo "== best of $rounds rounds: slices/s and lungscope / PyTorch"
    python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
best = {}
def keep(key, sps):
    best[key] = max(best.get(key, 0.0), sps)
for p in glob.glob(os.path.join(out, "torch-*.json")):
    for row in json.load(open(p))["inference"]:
        if row.get("size", 256) == 256:
            keep(("PyTorch " + row["memory_format"], row["batch"]), row["slices_per_s"])
for p in glob.glob(os.path.join(out, "lungscope-*.json")):
    for row in json.load(open(p))["rows"]:
        keep((row["description"], row["batch"]), row["slices_per_s"])
print("| backend | batch | slices/s | / PyTorch NCHW | / PyTorch channels-last |")
print("|---|---|---|---|---|")
for (name, b), sps in sorted(best.items(), key=lambda kv: (kv[0][1], -kv[1])):
    nchw, cl = best.get(("PyTorch nchw", b)), best.get(("PyTorch channels_last", b))
    f = lambda t: f"{sps / t:.2f}" if t else "-"
    print(f"| {name} | {b} | {sps:.2f} | {f(nchw)} | {f(cl)} |")
PY
fi

if [ "${LAYERS:-0}" = 1 ]; then
    echo
    "$out/lungscope" bench-infer --device flex --batch 1 --repeat "$repeat" --layers | sed -n '/per-layer/,/sum of/p'
    "$venv/bin/python" "$root/benches/unet_layers_torch.py" --batch 1 --repeat "$repeat"
    "$venv/bin/python" "$root/benches/unet_layers_torch.py" --batch 1 --repeat "$repeat" --channels-last
fi
