#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png (1280x650, the window's default) from the running desk app in
# demo mode: desk-pending, result-verified, result-not-verified,
# result-locked, settings, activity. Same requirements as scripts/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
cargo build -p countersign-desk
cargo test -p countersign-e2e --test e2e -- --test-threads=1 --ignored --exact screenshots
ls -l docs/screenshots/
