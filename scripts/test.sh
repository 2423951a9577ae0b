#!/usr/bin/env bash
# Runs every test: core unit, rule, property and persistence tests; the
# gateway against the emulator over loopback HTTP; the shell through IPC;
# and the end-to-end suite in the real window (which starts its own Xvfb,
# tauri-driver and WebKitWebDriver). Missing pieces are errors, not skips.
#
# The end-to-end suite drives `COUNTERSIGN_APP_BIN` when it is set (CI sets
# it to the release binary that goes into the .deb, built once by
# scripts/package.sh), else the debug app this script builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
# Every UI module parses as the ES module the window loads: one clash of
# names (an import and a function both called `render`) stops the whole
# page before anything shows, which the end-to-end suite only reports as
# a time-out.
for module in ui/*.js; do node --input-type=module --check < "$module"; done
# One build for everything: `cargo test` also builds the app binary that the
# end-to-end suite drives (a separate `cargo build` would compile Tauri a
# second time, without the dev-dependency features the tests unify in).
cargo test --workspace --all-targets --no-run
# Every step names the whole workspace, as the build above did: naming one
# package (-p, or --exclude) changes which features cargo unifies and
# rebuilds the core and the shell (2 min 23 s for --exclude in CI).
echo "test: the end-to-end suite drives ${COUNTERSIGN_APP_BIN:-the debug build (target/debug/countersign)}"
cargo test --workspace --lib --bins --tests -- --test-threads=2
# The doctests (S11's compile_fail guard on CodeDigest is one).
cargo test --workspace --doc
# The criterion benches once each, as a smoke test (criterion's own
# command line takes no libtest flags such as --test-threads).
cargo test --workspace --bench desk
# The OS credential store, for real: a private D-Bus session with
# gnome-keyring (these tests are ignored in a plain run, which has none).
scripts/keyring-session.sh cargo test --workspace --test keychain -- --ignored
# The fuzz crate builds on stable and replays every target's seed corpus
# (it shares this build's target folder).
scripts/fuzz-replay.sh
