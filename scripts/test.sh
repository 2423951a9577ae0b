#!/usr/bin/env bash
# Runs every test: core unit, rule, property and persistence tests; the
# gateway against the emulator over loopback HTTP; the shell through IPC;
# and the end-to-end suite in the real window (which starts its own Xvfb,
# tauri-driver and WebKitWebDriver). Missing pieces are errors, not skips.
set -euo pipefail
cd "$(dirname "$0")/.."
# The end-to-end suite drives the built app, so build it first.
cargo build -p countersign-desk
cargo test --workspace --all-targets -- --test-threads=2
