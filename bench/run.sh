#!/usr/bin/env bash
# NativePools benchmarks.
#
#   bench/run.sh pools [SCENARIO...]   the pool benchmark (./build.sh bench pools builds the library
#                                      first); SCENARIO is any of calls batch threads fresh cross
#                                      churn metadata python (default: all of them)
#   bench/run.sh ipc [SCENARIO...]     the IPC benchmark (./build.sh bench ipc builds the library
#                                      first); SCENARIO is any of pingpong fanin pipeline placement
#                                      (default: all of them)
#
# Writes bench/results/pools.md and pools.json (or ipc.md and ipc.json). Environment:
#   NATIVEPOOLS_LIB     libnativepools.so (or its folder); default artifacts/native/libnativepools.so
#   NP_BENCH_RUNS       runs of the short measurements (calls, batch, fresh, python); default 5;
#                       for ipc: runs of every measurement, default 3
#   NP_BENCH_RUNS_LONG  runs of the timed multi-thread ones (threads, cross, churn); default 3
#   NP_BENCH_SECONDS    wall time of one multi-thread run; default 1 (longer for 1000+ threads);
#                       for ipc: the measured window of every run, default 2
#   NP_BENCH_QUIET_WAIT ipc: before each run, wait up to this many seconds for the machine to be
#                       under 10 % busy (other processes' bursts spoil spinning figures); default 10
#   NP_BENCH_QUIET_BUDGET  ipc: most seconds all those waits may add up to; default 120
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
# The library's design in plain C, with and without its checks (bench/pools/magazine_pool.c):
# run where the library's boundary and checks decide the figure (calls, cross).
DESIGN_PEERS=(magazine_pool magazine_pool_unchecked)
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
    for a in "${ALLOCATORS[@]}" "${DESIGN_PEERS[@]}"; do drive "$a" calls; done
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
      for a in "${ALLOCATORS[@]}" "${DESIGN_PEERS[@]}"; do
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

# ================================================================ the IPC benchmark

IPC_DRIVER="$BUILD/ipc_bench"
IPC_RAW="$BUILD/ipc-raw.jsonl"
IPC_RUNS="${NP_BENCH_RUNS:-3}"
IPC_SECONDS="${NP_BENCH_SECONDS:-2}"
IPC_QUIET_WAIT="${NP_BENCH_QUIET_WAIT:-10}"
IPC_QUIET_BUDGET="${NP_BENCH_QUIET_BUDGET:-120}"
IPC_WAITED=0
IPC_SCENARIOS=(pingpong fanin pipeline placement)
ZMQ_NOTE=""

# ZeroMQ is a peer, not a requirement: when libzmq3-dev cannot be installed the driver is built
# without it and its rows say "not available" (with the reason in the report's header).
ensure_ipc_tools() {
  if [ ! -f /usr/include/zmq.h ]; then
    if ! command -v apt-get >/dev/null; then
      ZMQ_NOTE="libzmq3-dev is not installed and there is no apt-get"
    else
      local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
      log "installing libzmq3-dev"
      if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libzmq3-dev >/dev/null; }; then
        ZMQ_NOTE="apt-get install libzmq3-dev failed"
      fi
    fi
    if [ ! -f /usr/include/zmq.h ]; then
      ZMQ_NOTE="${ZMQ_NOTE:-libzmq3-dev did not install zmq.h}"
      printf '   ZeroMQ not available: %s\n' "$ZMQ_NOTE"
    fi
  fi
  # The syscall counter reads the tracepoint's id from tracefs; perf mounts it on demand, so do the
  # same when it is missing (best effort: without it the syscall columns say n/a).
  if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  fi
}

build_ipc_driver() {
  log "compiling the IPC driver (gcc -O2) against $(basename "$LIB")${ZMQ_NOTE:+ (without ZeroMQ)}"
  mkdir -p "$BUILD"
  local lib_dir zmq=(); lib_dir="$(dirname "$LIB")"
  if [ -f /usr/include/zmq.h ]; then zmq=(-DIPC_HAVE_ZMQ -lzmq); fi
  gcc -std=gnu11 -O2 -Wall -Wextra -I"$HEADER_DIR" -I"$BENCH/pools" "$BENCH"/ipc/*.c \
    "$BENCH/pools/bench_util.c" "$BENCH/pools/latency_histogram.c" \
    -L"$lib_dir" -l:"$(basename "$LIB")" -Wl,-rpath,"$lib_dir" "${zmq[@]}" -lpthread -lm -o "$IPC_DRIVER"
}

# ipc_drive ARGS...: one measurement (a server process and its clients), its record appended.
# The quiet gate's waits are summed; once they reach IPC_QUIET_BUDGET, runs start without waiting.
ipc_drive() {
  local status=0 wait waited
  wait="$(awk -v w="$IPC_QUIET_WAIT" -v b="$IPC_QUIET_BUDGET" -v d="$IPC_WAITED" 'BEGIN { r = b - d; print (r < w ? (r > 0 ? r : 0) : w) }')"
  env -u LD_PRELOAD "$IPC_DRIVER" run --seconds "$IPC_SECONDS" --quiet-wait "$wait" "$@" >>"$IPC_RAW" || status=$?
  waited="$(tail -n 1 "$IPC_RAW" | grep -o '"quiet_wait_s": [0-9.e+-]*' | awk '{ print $2 }')"
  IPC_WAITED="$(awk -v a="$IPC_WAITED" -v b="${waited:-0}" 'BEGIN { print a + b }')"
  if [ $status -ne 0 ]; then
    FAILURES=$((FAILURES + 1))
    printf '   FAILED (exit %d): %s run %s\n' "$status" "$IPC_DRIVER" "$*"
  fi
}

# Runs are interleaved across transports, so a change in the machine's load falls on all alike.
ipc_scenario_pingpong() {
  for run in $(seq "$IPC_RUNS"); do
    progress "run $run/$IPC_RUNS: one client; raw shm 64 B and 56 B; NativePools, Unix socket, ZeroMQ at 64 B, 4 KiB, 64 KiB"
    ipc_drive --scenario pingpong --transport shm --size 64
    ipc_drive --scenario pingpong --transport shm --size 56
    for size in 64 4096 65536; do
      ipc_drive --scenario pingpong --transport nativepools --size "$size"
      ipc_drive --scenario pingpong --transport uds --size "$size"
      ipc_drive --scenario pingpong --transport zmq --size "$size"
    done
  done
}

# 100 client processes. Each NativePools connection gets 64 KiB rings and 16 KiB messages (the
# default 4 MiB rings would map 800 MiB for 100 clients); clients warm up with 50 calls each.
ipc_scenario_fanin() {
  local common=(--scenario fanin --clients 100 --size 64 --warmup-calls 50)
  for run in $(seq "$IPC_RUNS"); do
    progress "run $run/$IPC_RUNS: 100 clients; NativePools worker_threads 1 and 2, epoll Unix-socket server"
    for workers in 1 2; do
      ipc_drive "${common[@]}" --transport nativepools --workers "$workers" --ring-size 65536 --max-message 16384
    done
    ipc_drive "${common[@]}" --transport uds_epoll
  done
}

ipc_scenario_pipeline() {
  for run in $(seq "$IPC_RUNS"); do
    progress "run $run/$IPC_RUNS: one client, window 64"
    ipc_drive --scenario pipeline --transport nativepools --size 64 --window 64
  done
}

# The same peers pinned: server and client on one core (CPU 0 both), and each on its own core
# (server CPU 1, client CPU 0). Unpinned, the scheduler picks either, and keeps its choice: a
# process woken by a write to an eventfd tends to run on the writer's CPU (wake-affine).
ipc_scenario_placement() {
  local placement name server client
  for run in $(seq "$IPC_RUNS"); do
    progress "run $run/$IPC_RUNS: server and client pinned to one core, then to a core each"
    for placement in "same_core 0 0" "own_cores 1 0"; do
      read -r name server client <<<"$placement"
      local pin=(--server-cpu "$server" --client-cpu "$client")
      ipc_drive --scenario "${name}_pingpong" "${pin[@]}" --transport shm --size 64
      ipc_drive --scenario "${name}_pingpong" "${pin[@]}" --transport nativepools --size 64
      ipc_drive --scenario "${name}_pingpong" "${pin[@]}" --transport uds --size 64
      ipc_drive --scenario "${name}_pipeline" "${pin[@]}" --transport nativepools --size 64 --window 64
    done
  done
}

run_ipc() {
  local scenarios=("$@")
  [ ${#scenarios[@]} -gt 0 ] || scenarios=("${IPC_SCENARIOS[@]}")
  for s in "${scenarios[@]}"; do
    declare -F "ipc_scenario_$s" >/dev/null || die "unknown scenario '$s' (${IPC_SCENARIOS[*]})"
  done
  command -v gcc >/dev/null || die "gcc is required"
  command -v python3 >/dev/null || die "python3 is required"
  locate_library
  ensure_ipc_tools
  build_ipc_driver

  local start=$SECONDS load_start stat_start
  load_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo)"
  stat_start="$(head -n 1 /proc/stat 2>/dev/null || echo)"
  log "load average at start: $load_start"
  : >"$IPC_RAW"
  "$IPC_DRIVER" info >>"$IPC_RAW"
  for s in "${scenarios[@]}"; do
    log "scenario: $s"
    local scenario_start=$SECONDS
    "ipc_scenario_$s"
    progress "($((SECONDS - scenario_start)) s)"
  done

  log "writing bench/results/ipc.md and ipc.json"
  mkdir -p "$RESULTS"
  times >"$BUILD/ipc-times.txt"
  python3 "$BENCH/ipc/ipc_report.py" --raw "$IPC_RAW" --json "$RESULTS/ipc.json" --markdown "$RESULTS/ipc.md" \
    --duration "$((SECONDS - start))" --load-start "$load_start" --stat-start "$stat_start" \
    --own-cpu "$(tail -n 1 "$BUILD/ipc-times.txt")" --failures "$FAILURES" --zmq-note "$ZMQ_NOTE" \
    --seconds "$IPC_SECONDS"
  python3 "$BENCH/ipc/ipc_report.py" --summary "$RESULTS/ipc.json"
  log "IPC benchmark done in $((SECONDS - start)) s, $IPC_WAITED s of it waiting for a quiet machine (raw records: ${IPC_RAW#$ROOT/})"
  [ "$FAILURES" -eq 0 ] || die "$FAILURES driver run(s) failed (see FAILED lines above)"
}

case "${1:-}" in
  pools) shift; run_pools "$@" ;;
  ipc) shift; run_ipc "$@" ;;
  *) die "usage: bench/run.sh pools [${ALL_SCENARIOS[*]}] | ipc [${IPC_SCENARIOS[*]}]" ;;
esac
