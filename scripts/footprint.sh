#!/usr/bin/env bash
# Measures the release app: time from exec to the UI's first "ready", the
# PSS and RSS of the whole process tree (the app plus WebKit's processes)
# after 10 s idle, the binary size and the .deb size. Each start runs under
# its own Xvfb with a fresh data folder; the median of the runs is printed.
#   scripts/footprint.sh [--no-build] [--runs N]
# Builds with scripts/package.sh (the Tauri CLI), which makes the binary and
# the .deb in one build. Extra environment is passed to the app, so a WebKit
# setting can be tried without a rebuild.
# Fails (exit 1, no figure printed) when the binary is missing, when the app
# exits or never logs "ui ready after N ms" within the time-out, or when it
# is gone before its memory is read; the app's stderr tail says why.
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
if [ ! -x "$bin" ]; then
  echo "footprint: no app binary at $bin (build it with scripts/package.sh, or drop --no-build)" >&2
  exit 1
fi
command -v Xvfb >/dev/null || { echo "footprint: Xvfb is not installed (scripts/setup.sh)" >&2; exit 1; }

tree() { echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Seconds to wait for "ui ready after N ms" before giving up.
ready_timeout=${FOOTPRINT_READY_TIMEOUT:-30}

one_run() {
  local data display xvfb app log start ready_wall ready_app pss=0 rss=0 a b why=""
  data=$(mktemp -d)
  display=:$(( 90 + RANDOM % 100 ))
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  sleep 1
  log="$data/app.log"
  start=$(date +%s%N)
  DISPLAY=$display COUNTERSIGN_DATA_DIR="$data/d" "$bin" 2>"$log" &
  app=$!
  local deadline=$(( SECONDS + ready_timeout ))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q "ui ready after" "$log" && break
    kill -0 "$app" 2>/dev/null || break
    sleep 0.01
  done
  ready_wall=$(( ($(date +%s%N) - start) / 1000000 ))
  ready_app=$(grep -o "ui ready after [0-9]* ms" "$log" | grep -o "[0-9]*" | head -n1 || true)
  if [ -z "$ready_app" ]; then
    if kill -0 "$app" 2>/dev/null; then
      why="the app did not log \"ui ready after N ms\" within ${ready_timeout} s"
    else
      wait "$app" 2>/dev/null && why="the app exited (status 0)" || why="the app exited (status $?)"
      why="$why before it logged \"ui ready after N ms\""
    fi
  else
    sleep 10
    kill -0 "$app" 2>/dev/null || why="the app exited during the 10 s idle, before its memory was read"
  fi
  if [ -n "$why" ]; then
    {
      echo "footprint: $why; no figure recorded. The app's stderr (last 30 lines):"
      tail -n 30 "$log" | sed 's/^/  | /'
    } >&2
    kill "$app" "$xvfb" 2>/dev/null || true
    wait "$app" "$xvfb" 2>/dev/null || true
    rm -rf "$data"
    return 1
  fi
  local procs
  procs=$(tree "$app")
  for p in $procs; do
    read -r a b < <(awk '/^Pss:/{p=$2} /^Rss:/{r=$2} END{print p+0, r+0}' /proc/"$p"/smaps_rollup 2>/dev/null || echo "0 0")
    pss=$((pss + a)); rss=$((rss + b))
  done
  kill "$app" "$xvfb" 2>/dev/null || true
  wait "$app" "$xvfb" 2>/dev/null || true
  rm -rf "$data"
  if [ "$pss" -eq 0 ] || [ "$rss" -eq 0 ]; then
    echo "footprint: could not read the memory of the app's processes ($procs); no figure recorded" >&2
    return 1
  fi
  echo "$ready_app $ready_wall $((pss / 1024)) $((rss / 1024)) $(echo "$procs" | wc -l)"
}

results=()
for i in $(seq 1 "$runs"); do
  r=$(one_run) || { echo "footprint: run $i failed" >&2; exit 1; }
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
