#!/usr/bin/env bash
# Measures the release app: time from exec to the UI's first "ready", the
# PSS and RSS of the whole process tree (the app plus WebKit's processes)
# after 10 s idle, and the binary size. Runs under its own Xvfb.
#   scripts/footprint.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = "--no-build" ] || cargo build --release -p countersign-desk
bin=target/release/countersign
data=$(mktemp -d)
display=:$(( 90 + RANDOM % 100 ))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "$data"' EXIT
sleep 1
log="$data/app.log"
start=$(date +%s%N)
DISPLAY=$display COUNTERSIGN_DATA_DIR="$data/d" "$bin" 2>"$log" &
app=$!
for _ in $(seq 1 300); do
  grep -q "ui ready after" "$log" && break
  sleep 0.05
done
ready_wall=$(( ($(date +%s%N) - start) / 1000000 ))
ready_app=$(grep -o "ui ready after [0-9]* ms" "$log" | grep -o "[0-9]*" || echo "?")
sleep 10
tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
pss=0; rss=0
for p in $(tree "$app"); do
  read -r a b < <(awk '/^Pss:/{p=$2} /^Rss:/{r=$2} END{print p, r}' /proc/"$p"/smaps_rollup 2>/dev/null || echo "0 0")
  pss=$((pss + a)); rss=$((rss + b))
done
echo "machine:      $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "ready:        ${ready_app} ms after start of main (as the app logs it); ${ready_wall} ms wall from exec (polled every 50 ms)"
echo "processes:    $(tree "$app" | wc -l)"
echo "PSS (tree):   $((pss / 1024)) MB"
echo "RSS (tree):   $((rss / 1024)) MB"
echo "binary:       $(du -h "$bin" | cut -f1) ($bin)"
