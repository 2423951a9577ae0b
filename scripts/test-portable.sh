#!/usr/bin/env bash
# The tests that need neither a window nor PostgreSQL nor a Linux-only tool,
# and clippy -D warnings on the same targets: what CI runs on Windows (Git
# Bash) and macOS. Linux CI runs everything instead (.ci/run, scripts/test.sh).
#   scripts/test-portable.sh [--no-clippy] [--list]
#
# Selected: the core's and the shell's unit tests (--lib), their binaries'
# tests (--bins), the core's doctests (S11's compile_fail guard on CodeDigest is one), and
# every integration test target in tests/*.rs and src-tauri/tests/*.rs except
# those named below; a new test file is therefore included by default (and
# fails on the OS it does not fit, rather than being skipped unseen). The
# shell's IPC tests run on Tauri's mock runtime: no window, no display.
# The end-to-end suite is its own package (countersign-e2e) and is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

clippy=1; list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-clippy) clippy=0 ;;
    --list) list=1 ;;
    *) echo "usage: scripts/test-portable.sh [--no-clippy] [--list]" >&2; exit 2 ;;
  esac
  shift
done

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=macos ;;
  MINGW* | MSYS* | CYGWIN*) os=windows ;;
  *) os=other ;;
esac

# Test targets (file names without .rs, in tests/ or src-tauri/tests/) left
# out on every OS, and why. Each must exist: a stale name fails the script.
excluded=(
  branch         # tests/branch.rs and src-tauri/tests/branch.rs: a PostgreSQL cluster per test
                 # (tests/pg_support: Debian's /usr/lib/postgresql/<v>/bin, runuser under root)
  branch_admin   # PostgreSQL (tests/pg_support), and the countersign-branch tool against it
  branch_audit   # PostgreSQL (tests/pg_support)
  syscall_order  # runs its own binary under strace; asserts x86_64 Linux syscall names
  disk_trouble   # unshare -rm and mount (a tmpfs in a user namespace), /proc/self/status
  bad_files      # #![cfg(unix)] (file modes, FIFOs), and on macOS too: /proc/self/status,
                 # mkfifo and setpriv (util-linux)
)
skips=()
if [ "$os" = windows ]; then
  excluded+=(
    crash        # #![cfg(unix)], so it would compile to nothing: named here to say so
                 # (the crash is SIGKILL, the proof the child's signal status)
  )
  # One test of a target that otherwise runs: it compares the audit trail's
  # OS account with `id -un`, a Unix tool.
  skips+=(--skip s22_sign_in_names_the_os_account_and_sends_name_their_gateway)
fi

is_excluded() { local x; for x in "${excluded[@]}"; do [ "$1" = "$x" ] && return 0; done; return 1; }
for x in "${excluded[@]}"; do
  if [ ! -f "tests/$x.rs" ] && [ ! -f "src-tauri/tests/$x.rs" ]; then
    echo "test-portable: '$x' is excluded but there is no tests/$x.rs or src-tauri/tests/$x.rs; update the list" >&2
    exit 1
  fi
done
targets=()
while IFS= read -r name; do
  is_excluded "$name" || targets+=(--test "$name")
done < <(for f in tests/*.rs src-tauri/tests/*.rs; do basename "$f" .rs; done | sort -u)

if [ "$list" = 1 ]; then
  echo "os: $os"
  echo "excluded: ${excluded[*]}"
  echo "skipped tests: ${skips[*]:-(none)}"
  printf '%s\n' "${targets[@]}" | grep -v '^--test$' | sed 's/^/included: /'
  exit 0
fi

selection=(--workspace --exclude countersign-e2e --lib --bins "${targets[@]}")
echo "test-portable ($os): $(( ${#targets[@]} / 2 )) test targets; excluded: ${excluded[*]}${skips[*]:+; skipped: ${skips[*]}}"
if [ "$clippy" = 1 ]; then
  cargo clippy --locked "${selection[@]}" --benches -- -D warnings
fi
cargo test --locked "${selection[@]}" -- --test-threads=2 ${skips[@]+"${skips[@]}"}
cargo test --locked -p countersign --doc
