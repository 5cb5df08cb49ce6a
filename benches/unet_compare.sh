#!/usr/bin/env bash
# Reference U-Net inference: lungscope (burn flex CPU, and wgpu where an adapter
# exists) against PyTorch on the same machine, in one run. See docs/seg.md.
#
#   benches/unet_compare.sh                 # CPU: batch 1 and 8, 3 timed runs each
#   GPU=1 benches/unet_compare.sh           # also the wgpu backend (lavapipe is slow)
#   VENV=/path/to/venv benches/unet_compare.sh
#
# SHARED=DIR points at the shared folder (default ../shared next to the checkout).
# Needs: a built lungscope (cargo build), and a Python venv with the packages of
# ../shared/bench/requirements.txt (default: $HOME/.cache/bench-venv).
# Writes target/bench/{lungscope,torch}.json and prints both tables.
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

devices=(cpu)
[ "${GPU:-0}" = 1 ] && devices+=(gpu)

echo "== lungscope bench-infer (${devices[*]})"
"$out/lungscope" bench-infer --device "${devices[@]}" --batch 1 8 --repeat "$repeat" \
    --json "$out/lungscope.json"

echo
echo "== PyTorch reference (unet_torch.py, 2 threads, NCHW and channels-last)"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch" 2>/dev/null; then
    (cd "$bench" && "$venv/bin/python" unet_torch.py --sizes 256 --batches 1 8 \
        --repeat "$repeat" --channels-last --train-batch 1 --train-steps 1 --gemm-n 2048 \
        --wait-idle 5 --json "$out/torch.json") | grep -E "^(torch|sgemm|infer|CPU|params)"
else
    echo "no PyTorch in $venv: compare with $bench/results/unet_torch.json instead"
fi

if [ "${LAYERS:-0}" = 1 ]; then
    echo
    "$out/lungscope" bench-infer --device cpu --batch 1 --repeat "$repeat" --layers | sed -n '/per-layer/,/sum of/p'
    "$venv/bin/python" "$root/benches/unet_layers_torch.py" --batch 1 --repeat "$repeat"
    "$venv/bin/python" "$root/benches/unet_layers_torch.py" --batch 1 --repeat "$repeat" --channels-last
fi
