#!/usr/bin/env bash
# One coverage-guided fuzzing campaign of one target, outside CI (see docs/fuzzing.md).
#
#   scripts/fuzz_campaign.sh TARGET SECONDS [MAX_EXECS]
#
# TARGET is nifti, dicom or lsm. The campaign's corpus grows in
# $FUZZ_WORK/corpus/TARGET (default $HOME/.cache/lungscope-fuzz), seeded from
# fuzz/corpus/TARGET and tests/corpus, so a later campaign resumes where this one
# stopped. It runs one libFuzzer process until SECONDS have passed or MAX_EXECS
# inputs have run (default 10 million), with a 2 GiB RSS limit, a 10 s limit per
# input and a 256 MiB read budget (LUNGSCOPE_MAX_READ_BYTES; an input that makes
# a reader exceed the RSS limit is then a defect, not a large valid volume).
# Crashes, out-of-memory inputs and timeouts land in $FUZZ_WORK/artifacts/TARGET/.
# The last lines of the log are the figures: executions, coverage, corpus size.
#
# JOBS=N runs libFuzzer's fork mode on N cores (-fork=N -ignore_crashes=1): the
# campaign goes on past a finding (each is still saved as an artifact) and stops
# at SECONDS only (libFuzzer's fork mode does not honour MAX_EXECS). Do not pause
# a campaign (SIGSTOP): the input running meanwhile is then reported as slow or
# timed out although it is not.
#
# Needs cargo-fuzz. On a stable toolchain the instrumented build runs with
# RUSTC_BOOTSTRAP=1 (set here); the build itself is cold once (about 30 minutes on
# 2 cores) and lands in $FUZZ_TARGET_DIR (default $HOME/.cache/lungscope-fuzz-target).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?target: nifti, dicom or lsm}"
seconds="${2:?seconds}"
max_execs="${3:-10000000}"
work="${FUZZ_WORK:-$HOME/.cache/lungscope-fuzz}"
tdir="${FUZZ_TARGET_DIR:-$HOME/.cache/lungscope-fuzz-target}"
export RUSTC_BOOTSTRAP=1
export LUNGSCOPE_MAX_READ_BYTES="${LUNGSCOPE_MAX_READ_BYTES:-268435456}"

mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "$work/logs"
cp -n fuzz/corpus/"$target"/* "$work/corpus/$target/" 2>/dev/null || true
seeds=()
case "$target" in
  nifti|dicom) seeds=(tests/corpus) ;;
esac

(cd fuzz && cargo fuzz build -O -s none --target-dir "$tdir" "$target")
bin="$tdir/x86_64-unknown-linux-gnu/release/$target"
log="$work/logs/$target-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "campaign: $target, ${seconds} s or ${max_execs} executions; log $log"
mode=(-runs="$max_execs")
if [ -n "${JOBS:-}" ]; then
  mode=(-fork="$JOBS" -ignore_crashes=1)
fi
set +e
"$bin" "$work/corpus/$target" "${seeds[@]}" \
  -rss_limit_mb=2048 -timeout=10 -max_total_time="$seconds" "${mode[@]}" \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" \
  > "$log" 2>&1
rc=$?
set -e
grep -E "^#[0-9]+.*(DONE|pulse|NEW|cov:)" "$log" | tail -1 || true
grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
echo "corpus: $(ls "$work/corpus/$target" | wc -l) files; artifacts: $(ls "$work/artifacts/$target" | wc -l)"
echo "exit code $rc"
exit "$rc"
