#!/usr/bin/env bash
# The checks CI runs, for a local run before pushing: format, lints, the GUI-free core
# build, the module layering (scripts/check_imports.py) and the tests. Uses the
# persistent build folder unless CARGO_TARGET_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lungscope-target}"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo check --no-default-features --lib
python3 scripts/check_imports.py
cargo test "$@"
