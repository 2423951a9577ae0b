#!/usr/bin/env bash
# Measures the release app: time from exec to the UI's first "ready", the
# PSS and RSS of the whole process tree (the app plus WebKit's processes)
# after 10 s idle, the binary size and the .deb size. Each start runs under
# its own Xvfb with a fresh data folder; the median of the runs is printed.
#   scripts/footprint.sh [--no-build] [--runs N]
# Builds with scripts/package.sh (the Tauri CLI), which makes the binary and
# the .deb in one build. Extra environment is passed to the app, so a WebKit
# setting can be tried without a rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1; runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: scripts/footprint.sh [--no-build] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done
[ "$build" = 0 ] || scripts/package.sh >/dev/null
target=${CARGO_TARGET_DIR:-target}
bin=${COUNTERSIGN_BIN:-$target/release/countersign}
deb=$(ls -t "$target"/release/bundle/deb/*.deb 2>/dev/null | head -n1 || true)

tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

one_run() {
  local data display xvfb app log start ready_wall ready_app pss=0 rss=0 a b
  data=$(mktemp -d)
  display=:$(( 90 + RANDOM % 100 ))
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  sleep 1
  log="$data/app.log"
  start=$(date +%s%N)
  DISPLAY=$display COUNTERSIGN_DATA_DIR="$data/d" "$bin" 2>"$log" &
  app=$!
  for _ in $(seq 1 600); do
    grep -q "ui ready after" "$log" && break
    sleep 0.01
  done
  ready_wall=$(( ($(date +%s%N) - start) / 1000000 ))
  ready_app=$(grep -o "ui ready after [0-9]* ms" "$log" | grep -o "[0-9]*" || echo 0)
  sleep 10
  local procs
  procs=$(tree "$app")
  for p in $procs; do
    read -r a b < <(awk '/^Pss:/{p=$2} /^Rss:/{r=$2} END{print p+0, r+0}' /proc/"$p"/smaps_rollup 2>/dev/null || echo "0 0")
    pss=$((pss + a)); rss=$((rss + b))
  done
  kill "$app" "$xvfb" 2>/dev/null || true
  wait "$app" "$xvfb" 2>/dev/null || true
  rm -rf "$data"
  echo "$ready_app $ready_wall $((pss / 1024)) $((rss / 1024)) $(echo "$procs" | wc -l)"
}

results=()
for i in $(seq 1 "$runs"); do
  r=$(one_run)
  echo "run $i: ready ms (app), ready ms (wall), PSS MiB, RSS MiB, processes: $r" >&2
  results+=("$r")
done
col() { printf '%s\n' "${results[@]}" | awk -v c="$1" '{print $c}' | median; }
echo "machine:      $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ready:        $(col 1) ms after start of main (as the app logs it); $(col 2) ms wall from exec (median of $runs)"
echo "processes:    $(col 5)"
echo "PSS (tree):   $(col 3) MiB"
echo "RSS (tree):   $(col 4) MiB"
size() { stat -c %s "$1" | awk '{printf "%d bytes (%.2f MiB)", $1, $1/1048576}'; }
echo "binary:       $(size "$bin") ($bin)"
if [ -n "$deb" ]; then
  echo ".deb:         $(size "$deb") ($deb)"
fi
