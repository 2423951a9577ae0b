#!/usr/bin/env bash
# Reproduces BENCHMARKS.md's goal figures with one command and prints ONE
# table (figure, goal, measured, met or not), with the machine, the load
# average and the date above it. Linux only (footprint.sh reads /proc).
#   scripts/bench.sh [--no-build] [--quick]
#
# Runs, in this order:
#   1. the criterion benches, `cargo bench -p countersign --bench desk`
#      (engine/*: check and start without I/O; durable/*: a change written
#      to a real JournalStore; purge: the file stays bounded);
#   2. desk-bench, the full cycle over loopback HTTP on a real store and
#      audit log, at 10, 1,000 and 10,000 pending;
#   3. scripts/footprint.sh: start-up to "ui ready", PSS and RSS of the app
#      and its WebKit processes after 10 s idle (median of 3 starts);
#   4. the sizes of the release binary, the .deb and the .rpm.
#
# Building: scripts/package.sh (the release app and both installers, one
# fat-LTO build), then desk-bench; `cargo bench` builds the bench itself.
# --no-build skips the first two (cargo bench still builds if stale).
# --quick: criterion's --quick mode, 300 desk-bench cycles, 1 footprint
# start; for trying the script, not for figures.
#
# Criterion options: --warm-up-time 1 --measurement-time 3 (criterion's
# defaults are 3 s and 5 s). They apply to engine/*; the durable group sets
# its own measurement time in benches/desk.rs (10 s, 10 s, 20 s at 10,
# 1,000 and 10,000 pending), which wins over the command line. About 2.5
# minutes for the benches, 4 to 5 minutes in all on 2 cores, build excluded.
#
# Exit status: 0 when every figure was measured, whether or not it meets its
# goal (the table says which); 1 when a measurement could not be made (a
# build, a bench or the app failed, or its output had no figure): the
# failing step's log tail is printed and no table is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

# ---------------------------------------------------------------- goals
# BENCHMARKS.md, "Goals at a glance": the only place this script keeps them.
GOAL_CHECK_P50_US=20         # `check` without I/O, median (µs)
GOAL_DURABLE_P99_MS=2        # durable change at 10,000 pending, p99 (ms)
GOAL_CYCLES_PER_S=200        # full cycles/s at 1,000 and 10,000 pending
GOAL_P99_OVER_P50=2          # ... with p99 at most this many times p50
GOAL_FSYNCS_PER_CYCLE=6      # fsyncs per full cycle, audit included
GOAL_READY_MS=600            # UI ready, from exec (ms)
GOAL_PSS_BYTES=180000000     # PSS of the whole process tree (180 MB)
GOAL_DEB_BYTES=6000000       # the .deb (6 MB)

build=1; quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --quick) quick=1 ;;
    *) echo "usage: scripts/bench.sh [--no-build] [--quick]" >&2; exit 2 ;;
  esac
  shift
done
command_line="scripts/bench.sh"
[ "$build" = 1 ] || command_line="$command_line --no-build"
[ "$quick" = 0 ] || command_line="$command_line --quick"
if [ "$quick" = 1 ]; then cycles=300; runs=1; criterion_extra=(--quick); else cycles=2000; runs=3; criterion_extra=(); fi

target=${CARGO_TARGET_DIR:-target}
logs=${BENCH_LOG_DIR:-$(mktemp -d /tmp/bench.XXXXXX)}
mkdir -p "$logs"
say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
# Runs a step with its output in $logs/<name>.log; on failure prints the tail.
step() {
  local name=$1; shift
  say "$name: $*"
  if ! "$@" >"$logs/$name.log" 2>&1; then
    echo "bench: $name failed; the last 40 lines of $logs/$name.log:" >&2
    tail -n 40 "$logs/$name.log" | sed 's/^/  | /' >&2
    exit 1
  fi
}
# A figure that was not found in a log is a failed measurement, not a 0.
need() {
  local value=$1 what=$2 log=$3
  if ! [[ "$value" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "bench: no figure for $what in $log (got '${value}'); the last 20 lines:" >&2
    tail -n 20 "$log" | sed 's/^/  | /' >&2
    exit 1
  fi
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

load_before=$(load)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
say "logs in $logs; load $load_before"

# ---------------------------------------------------------------- build
if [ "$build" = 1 ]; then
  step package scripts/package.sh
  # With the app's package and feature, as package.sh builds the verifier:
  # the dependencies the app build made are reused, not built again.
  step build-desk-bench cargo build --release --locked -p countersign-desk -p countersign \
    --bin desk-bench --features tauri/custom-protocol
fi
bin=$target/release/countersign
bench_bin=$target/release/desk-bench
[ -x "$bin" ] || die "no app binary at $bin (run without --no-build)"
[ -x "$bench_bin" ] || die "no desk-bench at $bench_bin (run without --no-build)"

# ---------------------------------------------------------------- 1. criterion
step criterion cargo bench --locked -p countersign --bench desk -- \
  --warm-up-time 1 --measurement-time 3 --noplot "${criterion_extra[@]}"
# "engine/check/10: n=… p50=1.3µs p99=4.3µs max=…" (Rust's Debug durations).
as_us() {
  awk '{ v = $0; u = v; gsub(/[0-9.]/, "", u); sub(/[^0-9.].*$/, "", v)
         f = (u == "ns") ? 0.001 : (u == "µs" || u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : -1
         if (v == "" || f < 0) print "?"; else printf "%.2f\n", v * f }'
}
percentile() { # label, p50|p99 -> µs
  local raw
  raw=$(grep -o "^$1: n=[0-9]* p50=[^ ]* p99=[^ ]*" "$logs/criterion.log" | head -n1 | grep -o "$2=[^ ]*" | cut -d= -f2 || true)
  if [ -z "$raw" ]; then echo "?"; else echo "$raw" | as_us; fi
}
check10_us=$(percentile engine/check/10 p50); need "$check10_us" "engine/check/10 p50" "$logs/criterion.log"
check10k_us=$(percentile engine/check/10000 p50); need "$check10k_us" "engine/check/10000 p50" "$logs/criterion.log"
dur_start_us=$(percentile durable/start/10000 p99); need "$dur_start_us" "durable/start/10000 p99" "$logs/criterion.log"
dur_send_us=$(percentile durable/record_send/10000 p99); need "$dur_send_us" "durable/record_send/10000 p99" "$logs/criterion.log"
dur_check_us=$(percentile durable/check/10000 p99); need "$dur_check_us" "durable/check/10000 p99" "$logs/criterion.log"
grep -q '^purge: pending file size over time: ' "$logs/criterion.log" \
  || die "the purge bound was not printed ($logs/criterion.log)"

# ---------------------------------------------------------------- 2. desk-bench
for n in 10 1000 10000; do
  step "desk-bench-$n" "$bench_bin" --pending "$n" --cycles "$cycles"
done
db() { # pending, field -> number
  local log=$logs/desk-bench-$1.log
  case "$2" in
    rate) grep -o '^cycles: .* \([0-9.]*\) cycles/s' "$log" | grep -o '[0-9.]* cycles/s' | cut -d' ' -f1 ;;
    p50) grep -o '^latency: *p50 [0-9.]* ms' "$log" | grep -o '[0-9.]* ms' | cut -d' ' -f1 ;;
    p99) grep -o 'p99 [0-9.]* ms' "$log" | head -n1 | cut -d' ' -f2 ;;
    appends) grep -o '^durable: *per cycle [0-9.]* journal appends' "$log" | grep -o '[0-9.]*' | head -n1 ;;
    records) grep -o '[0-9.]* audit records (each 3 fsyncs' "$log" | cut -d' ' -f1 ;;
  esac || true
}
declare -A fig  # fig[<field>_<pending>], from desk-bench's output
for n in 10 1000 10000; do
  for f in rate p50 p99 appends records; do
    v=$(db "$n" "$f"); need "$v" "desk-bench --pending $n: $f" "$logs/desk-bench-$n.log"
    fig[${f}_$n]=$v
  done
done

# ---------------------------------------------------------------- 3. footprint
step footprint env COUNTERSIGN_BIN="$bin" scripts/footprint.sh --no-build --runs "$runs"
fp="$logs/footprint.log"
ready_main=$(grep -o '^ready: *[0-9]* ms after start of main' "$fp" | grep -o '[0-9]*' | head -n1 || true)
need "$ready_main" "ready after main" "$fp"
ready_wall=$(grep -o '[0-9]* ms wall from exec' "$fp" | grep -o '^[0-9]*' || true)
need "$ready_wall" "ready from exec" "$fp"
pss_mib=$(grep -o '^PSS (tree): *[0-9]* MiB' "$fp" | grep -o '[0-9]* MiB' | cut -d' ' -f1 || true)
need "$pss_mib" "PSS" "$fp"
rss_mib=$(grep -o '^RSS (tree): *[0-9]* MiB' "$fp" | grep -o '[0-9]* MiB' | cut -d' ' -f1 || true)
need "$rss_mib" "RSS" "$fp"
procs=$(grep -o '^processes: *[0-9]*' "$fp" | grep -o '[0-9]*' || true)
need "$procs" "processes" "$fp"

# ---------------------------------------------------------------- 4. sizes
deb=$(ls -t "$target"/release/bundle/deb/*.deb 2>/dev/null | head -n1 || true)
rpm=$(ls -t "$target"/release/bundle/rpm/*.rpm 2>/dev/null | head -n1 || true)
[ -n "$deb" ] || die "no .deb in $target/release/bundle/deb (run without --no-build)"
[ -n "$rpm" ] || die "no .rpm in $target/release/bundle/rpm (run without --no-build)"
bin_bytes=$(stat -c %s "$bin"); deb_bytes=$(stat -c %s "$deb"); rpm_bytes=$(stat -c %s "$rpm")

load_after=$(load)

# ---------------------------------------------------------------- the table
# True (exit 0) when awk's expression holds.
holds() { awk "BEGIN { exit !($1) }"; }
verdict() { if holds "$1"; then echo "met"; else echo "**not met**"; fi; }
thousands() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
bytes() { echo "$(thousands "$1") B ($(awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }') MiB)"; }
ms_of() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
worst_us=$(printf '%s\n' "$dur_start_us" "$dur_send_us" "$dur_check_us" | sort -g | tail -n1)
fsyncs_1000=$(awk -v a="${fig[appends_1000]}" -v r="${fig[records_1000]}" 'BEGIN { printf "%g", a + 3 * r }')
pss_goal_mib=$(awk -v b="$GOAL_PSS_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

row() { printf '| %s | %s | %s | %s |\n' "$@"; }
echo "date:     $started"
echo "command:  $command_line (commit $commit)"
echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/^MemTotal:/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)"
echo "load:     $load_before at the start, $load_after at the end (1, 5, 15 min)"
[ "$quick" = 0 ] || echo "QUICK RUN (--quick): fewer samples, cycles and starts; not figures to record"
echo
row "Figure" "Goal" "Measured" "Met?"
row "---" "---" "---" "---"
row "\`check\` without I/O, p50, 10 pending (\`engine/check/10\`)" "≤ $GOAL_CHECK_P50_US µs" "$check10_us µs" "$(verdict "$check10_us <= $GOAL_CHECK_P50_US")"
row "\`check\` without I/O, p50, 10,000 pending (\`engine/check/10000\`)" "≤ $GOAL_CHECK_P50_US µs" "$check10k_us µs" "$(verdict "$check10k_us <= $GOAL_CHECK_P50_US")"
row "durable change, p99 at 10,000 pending, worst of start / record_send / check (\`durable/*/10000\`)" "≤ $GOAL_DURABLE_P99_MS ms" "$(ms_of "$worst_us") ms ($(ms_of "$dur_start_us") / $(ms_of "$dur_send_us") / $(ms_of "$dur_check_us"))" "$(verdict "$worst_us <= $GOAL_DURABLE_P99_MS * 1000")"
row "full cycles/s, 10 pending (\`desk-bench --pending 10 --cycles $cycles\`)" "no goal" "${fig[rate_10]}/s, p50 ${fig[p50_10]} ms, p99 ${fig[p99_10]} ms" "—"
for n in 1000 10000; do
  rate=${fig[rate_$n]}; p50=${fig[p50_$n]}; p99=${fig[p99_$n]}
  label=$(thousands "$n")
  row "full cycles/s, $label pending (\`desk-bench --pending $n --cycles $cycles\`)" "≥ $GOAL_CYCLES_PER_S/s" "$rate/s" "$(verdict "$rate >= $GOAL_CYCLES_PER_S")"
  row "full cycle p99 / p50, $label pending" "≤ $GOAL_P99_OVER_P50×" "$(ratio "$p99" "$p50")× (p99 $p99 ms, p50 $p50 ms)" "$(verdict "$p99 <= $GOAL_P99_OVER_P50 * $p50")"
done
row "fsyncs per full cycle, audit included (desk-bench, 1,000 pending: journal appends × 1 + audit records × 3)" "≤ $GOAL_FSYNCS_PER_CYCLE" "$fsyncs_1000 (${fig[appends_1000]} appends, ${fig[records_1000]} audit records)" "$(verdict "$fsyncs_1000 <= $GOAL_FSYNCS_PER_CYCLE")"
row "UI ready, wall from exec, median of $runs (\`footprint.sh\`)" "≤ $GOAL_READY_MS ms" "$ready_wall ms ($ready_main ms after \`main\` starts)" "$(verdict "$ready_wall <= $GOAL_READY_MS")"
row "PSS, whole process tree ($procs processes), after 10 s idle" "≤ $(thousands "$GOAL_PSS_BYTES") B ($pss_goal_mib MiB)" "$pss_mib MiB (RSS $rss_mib MiB)" "$(verdict "$pss_mib * 1048576 <= $GOAL_PSS_BYTES")"
row "release binary (\`$(basename "$bin")\`)" "no goal" "$(bytes "$bin_bytes")" "—"
row "\`.deb\` ($(basename "$deb"))" "≤ $(bytes "$GOAL_DEB_BYTES")" "$(bytes "$deb_bytes")" "$(verdict "$deb_bytes <= $GOAL_DEB_BYTES")"
row "\`.rpm\` ($(basename "$rpm"))" "no goal" "$(bytes "$rpm_bytes")" "—"
echo
echo "logs: $logs"
