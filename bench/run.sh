#!/usr/bin/env bash
# NativePools benchmarks.
#
#   bench/run.sh pools [SCENARIO...]   the pool benchmark (./build.sh bench pools builds the library
#                                      first); SCENARIO is any of calls batch threads fresh cross
#                                      churn metadata python (default: all of them)
#
# Writes bench/results/pools.md and bench/results/pools.json. Environment:
#   NATIVEPOOLS_LIB     libnativepools.so (or its folder); default artifacts/native/libnativepools.so
#   NP_BENCH_RUNS       runs of the short measurements (calls, batch, fresh, python); default 5
#   NP_BENCH_RUNS_LONG  runs of the timed multi-thread ones (threads, cross, churn); default 3
#   NP_BENCH_SECONDS    wall time of one multi-thread run; default 1 (longer for 1000+ threads)
# Figures are reported, never asserted: the script fails only when a driver fails.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
BUILD="$BENCH/build"
RESULTS="$BENCH/results"
DRIVER="$BUILD/pools_bench"
RAW="$BUILD/pools-raw.jsonl"

RUNS="${NP_BENCH_RUNS:-5}"
RUNS_LONG="${NP_BENCH_RUNS_LONG:-3}"
RUN_SECONDS="${NP_BENCH_SECONDS:-1}"
ALLOCATORS=(nativepools mutex_pool glibc jemalloc mimalloc tcmalloc)
MALLOCS=(glibc jemalloc mimalloc tcmalloc)
ALL_SCENARIOS=(calls batch threads fresh cross churn metadata python)

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- set-up

# The malloc peers, from Debian's packages: name, package, shared object.
PEERS=(
  "jemalloc libjemalloc2 libjemalloc.so.2"
  "mimalloc libmimalloc2.0 libmimalloc.so.2"
  "tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4"
)
declare -A PRELOAD=()

# Path of a shared object as the dynamic loader knows it, or nothing. (awk reads to the end: an
# early exit would kill ldconfig with SIGPIPE, which pipefail turns into a failure.)
find_shared_object() { ldconfig -p 2>/dev/null | awk -v so="$1" '$1 == so && !found { print $NF; found = 1 }'; }

ensure_peers() {
  local missing=() entry name package so
  for entry in "${PEERS[@]}"; do
    read -r name package so <<<"$entry"
    [ -n "$(find_shared_object "$so")" ] || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  for entry in "${PEERS[@]}"; do
    read -r name package so <<<"$entry"
    PRELOAD[$name]="$(find_shared_object "$so")"
    [ -n "${PRELOAD[$name]}" ] || die "$package is installed but $so was not found by ldconfig"
  done
}

locate_library() {
  LIB="${NATIVEPOOLS_LIB:-$ROOT/artifacts/native/libnativepools.so}"
  [ -d "$LIB" ] && LIB="$LIB/libnativepools.so"
  [ -f "$LIB" ] || die "no library at $LIB: run ./build.sh bench pools, or set NATIVEPOOLS_LIB"
  LIB="$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")"
  export NATIVEPOOLS_LIB="$LIB" # the Python binding reads it too
  HEADER_DIR="$ROOT/native-headers"
  [ -f "$HEADER_DIR/nativepools.h" ] || die "no header at $HEADER_DIR/nativepools.h: run ./build.sh first"
}

build_driver() {
  log "compiling the driver (gcc -O2) against $(basename "$LIB")"
  mkdir -p "$BUILD"
  local lib_dir; lib_dir="$(dirname "$LIB")"
  gcc -std=c11 -O2 -Wall -Wextra -pedantic -I"$HEADER_DIR" "$BENCH"/pools/*.c \
    -L"$lib_dir" -l:"$(basename "$LIB")" -Wl,-rpath,"$lib_dir" -lpthread -lm -o "$DRIVER"
}

# ---------------------------------------------------------------- running

FAILURES=0

# drive ALLOCATOR SUBCOMMAND ARGS...: one driver run, its record appended to the raw file. The
# peers are loaded with LD_PRELOAD; glibc and the pools run with no preload at all.
drive() {
  local allocator="$1" subcommand="$2"; shift 2
  local preload="${PRELOAD[$allocator]:-}"
  local status=0
  if [ -n "$preload" ]; then
    LD_PRELOAD="$preload" "$DRIVER" "$subcommand" --allocator "$allocator" "$@" >>"$RAW" || status=$?
  else
    env -u LD_PRELOAD "$DRIVER" "$subcommand" --allocator "$allocator" "$@" >>"$RAW" || status=$?
  fi
  if [ $status -ne 0 ]; then
    FAILURES=$((FAILURES + 1))
    printf '   FAILED (exit %d): %s %s --allocator %s %s\n' "$status" "$DRIVER" "$subcommand" "$allocator" "$*"
  fi
}

# Progress on one line per run.
progress() { printf '   %s\n' "$*"; }

# Runs of one measurement are interleaved across allocators, so a change in the machine's load
# during the run falls on every allocator alike.
scenario_calls() {
  for run in $(seq "$RUNS"); do
    progress "run $run/$RUNS"
    for a in "${ALLOCATORS[@]}"; do drive "$a" calls; done
  done
}

scenario_batch() {
  for run in $(seq "$RUNS"); do
    progress "run $run/$RUNS"
    for size in 264 1024 10240; do
      drive nativepools batch --size "$size" --calls batch
      for a in "${ALLOCATORS[@]}"; do drive "$a" batch --size "$size" --calls single; done
    done
  done
}

# Once scheduled, a busy thread keeps its core for at least a tick (4 ms at HZ=250), so a rotation
# through T busy threads takes about T x 4 ms / cores. With 1,000+ threads a run lasts 1.5
# rotations, so that on a quiet machine every thread gets scheduled before the deadline.
seconds_for_threads() {
  python3 -c "import os, sys; print(max(float(sys.argv[2]), int(sys.argv[1]) * 0.006 / os.cpu_count()))" \
    "$1" "$RUN_SECONDS"
}

scenario_threads() {
  for run in $(seq "$RUNS_LONG"); do
    for threads in 1 2 10 100 1000 2000; do
      local seconds; seconds="$(seconds_for_threads "$threads")"
      progress "run $run/$RUNS_LONG: $threads threads, ${seconds} s each"
      for a in "${ALLOCATORS[@]}"; do drive "$a" threads --threads "$threads" --seconds "$seconds"; done
    done
  done
}

scenario_fresh() {
  for run in $(seq "$RUNS"); do
    progress "run $run/$RUNS"
    for a in "${ALLOCATORS[@]}"; do drive "$a" fresh --count 1000000 --size 264; done
  done
}

scenario_cross() {
  for run in $(seq "$RUNS_LONG"); do
    for pairs in 1 4; do
      progress "run $run/$RUNS_LONG: $pairs producer(s) + $pairs consumer(s)"
      for a in "${ALLOCATORS[@]}"; do
        drive "$a" cross --pairs "$pairs" --mode cross --seconds "$RUN_SECONDS"
        drive "$a" cross --pairs "$pairs" --mode same --seconds "$RUN_SECONDS"
      done
    done
  done
}

scenario_churn() {
  for run in $(seq "$RUNS_LONG"); do
    progress "run $run/$RUNS_LONG"
    drive nativepools churn --threads 10000 --wave 100 --blocks 32 --keep 4
  done
}

# Figures that do not depend on timing: the runs only show they are the same every time.
scenario_metadata() {
  for run in 1 2 3; do
    for spec in "64 100000" "264 100000" "1024 100000" "10240 10000"; do
      read -r size blocks <<<"$spec"
      drive nativepools metadata --size "$size" --blocks "$blocks"
    done
  done
}

scenario_python() {
  for run in $(seq "$RUNS"); do
    progress "run $run/$RUNS"
    if ! env -u LD_PRELOAD python3 "$BENCH/pools/bench_python.py" >>"$RAW"; then
      FAILURES=$((FAILURES + 1)); printf '   FAILED: bench_python.py\n'
    fi
  done
}

run_pools() {
  local scenarios=("$@")
  [ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL_SCENARIOS[@]}")
  for s in "${scenarios[@]}"; do
    declare -F "scenario_$s" >/dev/null || die "unknown scenario '$s' (${ALL_SCENARIOS[*]})"
  done
  command -v gcc >/dev/null || die "gcc is required"
  command -v python3 >/dev/null || die "python3 is required"
  locate_library
  ensure_peers
  build_driver

  local start=$SECONDS load_start stat_start
  load_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo)"
  stat_start="$(head -n 1 /proc/stat 2>/dev/null || echo)"
  : >"$RAW"
  "$DRIVER" info >>"$RAW"
  for s in "${scenarios[@]}"; do
    log "scenario: $s"
    local scenario_start=$SECONDS
    "scenario_$s"
    progress "($((SECONDS - scenario_start)) s)"
  done

  log "writing bench/results/pools.md and pools.json"
  mkdir -p "$RESULTS"
  local peers=""
  for name in "${!PRELOAD[@]}"; do peers+="$name=${PRELOAD[$name]},"; done
  # The CPU time of every driver run (this shell's children), so the report can tell how much of the
  # machine other processes used meanwhile. `times` must run in this shell, not in a subshell.
  times >"$BUILD/times.txt"
  python3 "$BENCH/pools/report.py" --raw "$RAW" --json "$RESULTS/pools.json" --markdown "$RESULTS/pools.md" \
    --duration "$((SECONDS - start))" --load-start "$load_start" --stat-start "$stat_start" \
    --own-cpu "$(tail -n 1 "$BUILD/times.txt")" --failures "$FAILURES" --peers "$peers"
  python3 - "$RESULTS/pools.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for g in doc["goals"]:
    value = "n/a" if g["value"] is None else f"{g['value']:.3g}"
    verdict = {True: "met", False: "NOT MET", None: "not measured"}[g["met"]]
    print(f"   {g['scenario']:<14} {g['name']:<70} {value:>8}  goal {g['goal']:<8} {verdict}")
EOF
  log "pool benchmark done in $((SECONDS - start)) s (raw records: ${RAW#$ROOT/})"
  [ "$FAILURES" -eq 0 ] || die "$FAILURES driver run(s) failed (see FAILED lines above)"
}

case "${1:-}" in
  pools) shift; run_pools "$@" ;;
  *) die "usage: bench/run.sh pools [${ALL_SCENARIOS[*]}]" ;;
esac
