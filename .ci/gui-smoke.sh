#!/usr/bin/env bash
# Starts the real lungscope binary under Xvfb with a CT volume, takes a
# screenshot of the screen and checks that the axial view shows an image (not a
# blank or empty window). Exits non-zero on failure; always stops Xvfb and the app.
#
# Usage: .ci/gui-smoke.sh [BINARY] [VOLUME]
#   BINARY  default: $CARGO_TARGET_DIR/debug/lungscope (built if missing)
#   VOLUME  default: coronacases_003_ct.nii.gz from the shared data
# Env: GUI_SMOKE_OUT (folder for the screenshot, default target/gui-smoke),
#      GUI_SMOKE_TIMEOUT (seconds to wait for the image, default 90),
#      LUNGSCOPE_DATA (data folder, default ../shared/data).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="${1:-$target/debug/lungscope}"
data="${LUNGSCOPE_DATA:-$root/../shared/data}"
[ -d "$data" ] || data="$root/../../shared/data"
volume="${2:-$data/covid19_ct_seg_zenodo3757476_volumes/coronacases_003_ct.nii.gz}"
out="${GUI_SMOKE_OUT:-$root/target/gui-smoke}"
timeout_s="${GUI_SMOKE_TIMEOUT:-90}"
# Standard deviation (0..1) the axial-view region must exceed: a CT slice is
# far above it, an empty dark view or a blank screen far below.
min_sd=0.08

for tool in Xvfb import identify xdpyinfo; do
    command -v "$tool" >/dev/null || { echo "gui-smoke: missing $tool (apt: xvfb imagemagick x11-utils)" >&2; exit 2; }
done
[ -f "$volume" ] || { echo "gui-smoke: volume not found: $volume" >&2; exit 2; }
if [ ! -x "$bin" ]; then
    echo "gui-smoke: building $bin"
    (cd "$root" && cargo build --quiet)
fi
mkdir -p "$out"

# A free display number.
display=""
for n in $(seq 99 140); do
    if [ ! -e "/tmp/.X${n}-lock" ] && [ ! -e "/tmp/.X11-unix/X${n}" ]; then display=":$n"; break; fi
done
[ -n "$display" ] || { echo "gui-smoke: no free X display" >&2; exit 2; }

scratch="$(mktemp -d)"
xvfb_pid=""
app_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$scratch/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 1 50); do
    xdpyinfo -display "$display" >/dev/null 2>&1 && break
    sleep 0.2
done
xdpyinfo -display "$display" >/dev/null 2>&1 || { cat "$scratch/xvfb.log" >&2; echo "gui-smoke: Xvfb did not start" >&2; exit 1; }

# Fresh settings (eframe storage) so a saved layout cannot change the picture.
mkdir -p "$scratch/xdg-data" "$scratch/xdg-runtime"
chmod 700 "$scratch/xdg-runtime"
DISPLAY="$display" WAYLAND_DISPLAY="" WGPU_BACKEND=vulkan \
    XDG_DATA_HOME="$scratch/xdg-data" XDG_RUNTIME_DIR="$scratch/xdg-runtime" \
    "$bin" view "$volume" >"$out/app.log" 2>&1 &
app_pid=$!

shot="$out/gui-smoke.png"
start=$(date +%s)
sd_full=0
sd_view=0
while :; do
    sleep 2
    if ! kill -0 "$app_pid" 2>/dev/null; then
        cat "$out/app.log" >&2
        echo "gui-smoke: lungscope exited early" >&2
        exit 1
    fi
    import -display "$display" -window root "$shot" 2>/dev/null || true
    if [ -s "$shot" ]; then
        sd_full=$(identify -format '%[fx:standard_deviation]' "$shot")
        # The axial view: top-left cell of the 2 x 2 layout, right of the
        # analysis panel (about 250 px wide).
        sd_view=$(convert "$shot" -crop 340x260+290+90 +repage -format '%[fx:standard_deviation]' info:)
        if awk -v a="$sd_view" -v m="$min_sd" 'BEGIN { exit !(a > m) }'; then
            echo "gui-smoke: ok (axial view sd $sd_view, screen sd $sd_full) screenshot $shot"
            exit 0
        fi
    fi
    if [ $(( $(date +%s) - start )) -ge "$timeout_s" ]; then
        cat "$out/app.log" >&2
        echo "gui-smoke: no image after ${timeout_s}s (axial view sd $sd_view, screen sd $sd_full); see $shot" >&2
        exit 1
    fi
done
