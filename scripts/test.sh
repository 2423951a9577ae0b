#!/usr/bin/env bash
# Runs every test: core unit, rule, property and persistence tests; the
# gateway against the emulator over loopback HTTP; the shell through IPC;
# and the end-to-end suite in the real window (which starts its own Xvfb,
# tauri-driver and WebKitWebDriver). Missing pieces are errors, not skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
# One build for everything: `cargo test` also builds the app binary that the
# end-to-end suite drives (a separate `cargo build` would compile Tauri a
# second time, without the dev-dependency features the tests unify in).
cargo test --workspace --all-targets --no-run
cargo test --workspace --all-targets -- --test-threads=2
