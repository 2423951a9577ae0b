#!/usr/bin/env bash
# Installs the .deb the way a user would (`dpkg -i`, then apt for missing
# dependencies), starts the installed app once under its own Xvfb with a
# throw-away data folder, waits for the window to say it is ready, and
# removes the package again. Fails if any step does. Needs root (or sudo).
#   scripts/install-check.sh [path/to/countersign.deb]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
deb=${1:-$(ls -t "$target"/release/bundle/deb/*.deb 2>/dev/null | head -n1)}
[ -f "$deb" ] || { echo "install-check: no .deb (run scripts/package.sh first)" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

package=$(dpkg-deb -f "$deb" Package)
echo "install-check: installing $deb ($package)"
if ! as_root dpkg -i "$deb"; then
  # dpkg leaves the package unconfigured when a dependency is missing;
  # apt fetches the dependencies and finishes the configuration.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq --no-install-recommends
fi
bin=$(dpkg -L "$package" | grep -m1 '^/usr/bin/countersign$')
[ -x "$bin" ] || { echo "install-check: $package installed no program in /usr/bin" >&2; exit 1; }
# The audit verifier ships too; with no arguments it explains itself and
# exits 2 (cannot check).
verifier=/usr/bin/countersign-verify-audit
[ -x "$verifier" ] || { echo "install-check: $package did not install $verifier" >&2; exit 1; }
status=0; "$verifier" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || { echo "install-check: $verifier without arguments exited $status, not 2" >&2; exit 1; }

data=$(mktemp -d)
display=:$(( 200 + RANDOM % 100 ))
app=""; xvfb=""
cleanup() {
  [ -z "$app" ] || kill "$app" 2>/dev/null || true
  [ -z "$xvfb" ] || kill "$xvfb" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$data"
  as_root dpkg -r "$package" >/dev/null || true
}
trap cleanup EXIT
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
sleep 1
log="$data/app.log"
DISPLAY=$display COUNTERSIGN_DATA_DIR="$data/d" "$bin" >"$log" 2>&1 &
app=$!
for _ in $(seq 1 600); do
  if grep -q "ui ready after" "$log"; then
    echo "install-check: $bin started: $(grep -o 'ui ready after [0-9]* ms' "$log")"
    exit 0
  fi
  kill -0 "$app" 2>/dev/null || break
  sleep 0.1
done
echo "install-check: $bin did not report ready within 60 s; its output:" >&2
cat "$log" >&2
exit 1
