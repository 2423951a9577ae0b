#!/usr/bin/env bash
# Builds the desk app and runs the end-to-end suite (the `e2e/` workspace
# member) against it: tauri-driver + WebKitWebDriver on a private Xvfb
# display. Set COUNTERSIGN_APP_BIN to drive another build (the release
# binary from scripts/package.sh, say).
#
# Needs: xvfb, webkit2gtk-driver (WebKitWebDriver), and tauri-driver
# (`cargo install tauri-driver --locked --version ^2`). Extra arguments go to
# the test binaries, e.g. `scripts/e2e.sh demo_happy_path`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
# The app and the stand-alone emulator the settings scenario starts.
cargo build -p countersign-desk -p countersign --bin countersign --bin restcomm-emulator
cargo test -p countersign-e2e --tests -- --test-threads=1 "$@"
