#!/usr/bin/env bash
# Builds the release app and its Linux installers (.deb and .rpm) with the
# Tauri CLI pinned in package-lock.json. Offline apart from the npm and
# crates.io registries. Prints where the installers are.
#   scripts/package.sh [extra `tauri build` arguments]
# Use this, not `cargo build --release`, for release binaries: the CLI turns
# on Tauri's `custom-protocol` feature, so mixing the two rebuilds the Tauri
# crates each time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
[ -x node_modules/.bin/tauri ] || npm ci --no-audit --no-fund
target=${CARGO_TARGET_DIR:-target}
rm -rf "$target/release/bundle/deb" "$target/release/bundle/rpm"
# The audit-trail verifier IT runs off the desk ships beside the app. It is
# built with the app's package and the feature the Tauri CLI turns on, so
# cargo resolves the dependencies' features exactly as `tauri build` does and
# builds them once for both (with `-p countersign` alone, 126 crates were
# built twice: 4 min of a clean CI run on 2 cores). If the CLI ever changes
# its features, the cost is that rebuild again, not a wrong binary.
cargo build --release --locked -p countersign-desk -p countersign \
  --bin countersign-verify-audit --features tauri/custom-protocol
verifier=$(cd "$target/release" && pwd)/countersign-verify-audit
files="{\"/usr/bin/countersign-verify-audit\": \"$verifier\"}"
npx --no-install tauri build --bundles deb,rpm \
  --config "{\"bundle\": {\"linux\": {\"deb\": {\"files\": $files}, \"rpm\": {\"files\": $files}}}}" "$@"
ls -l "$target"/release/bundle/deb/*.deb "$target"/release/bundle/rpm/*.rpm
