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
# Clippy lints our crates while they are built for the tests, with
# `-D warnings`: `cargo clippy` is this same driver over a separate check
# build of every dependency (8 of a clean CI run's minutes on 2 cores).
# The driver reads its arguments from CLIPPY_ARGS, as `cargo clippy --`
# passes them. Every cargo step below keeps the wrapper: without it, cargo
# would rebuild our crates. COUNTERSIGN_NO_LINT=1 builds without it.
if [ -z "${COUNTERSIGN_NO_LINT:-}" ]; then
  driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
  if [ -z "$driver" ]; then
    echo "test: clippy-driver is missing: rustup component add clippy (or COUNTERSIGN_NO_LINT=1)" >&2
    exit 1
  fi
  export RUSTC_WORKSPACE_WRAPPER=$driver
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
fi
# One build for everything: `cargo test` also builds the app binary that the
# end-to-end suite drives (a separate `cargo build` would compile Tauri a
# second time, without the dev-dependency features the tests unify in).
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
cargo test --workspace --all-targets --no-run 2>&1 | tee "$build_log"
# Should the driver ever stop honouring CLIPPY_ARGS, a lint would only warn:
# any warning in our crates fails here all the same.
if grep -q '^warning' "$build_log"; then
  echo "test: the build printed warnings (clippy -D warnings); fix them" >&2
  exit 1
fi
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
# (without the lint wrapper: the fuzz crate is its own workspace.)
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS scripts/fuzz-replay.sh
