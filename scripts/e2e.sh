#!/usr/bin/env bash
# Builds the desk app and runs the end-to-end suite (tests/e2e.rs) against it:
# tauri-driver + WebKitWebDriver on a private Xvfb display, one test at a time.
#
# Needs: xvfb, webkit2gtk-driver (WebKitWebDriver), and tauri-driver
# (`cargo install tauri-driver --locked --version ^2`). Extra arguments go to
# the test binary, e.g. `scripts/e2e.sh demo_happy_path`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
cargo build -p countersign-desk
cargo test -p countersign --test e2e -- --test-threads=1 "$@"
