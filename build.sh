#!/usr/bin/env bash
# NativePools build driver.
#
#   ./build.sh           set up, publish libnativepools, regenerate the header and bindings,
#                        check them, build the C tests and examples, run the demo
#   ./build.sh test      everything above (minus the demo), then every test suite
#   ./build.sh bench ... benchmark drivers (see bench/README.md)
#
# Environment: CI=true makes a stale committed header or binding an error instead of
# regenerating it; NP_STRESS=full runs the stress tests at full size.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

case "$(uname -s)" in
  Darwin) RID="osx-$(uname -m | sed 's/x86_64/x64/')"; LIB_NAME="libnativepools.dylib" ;;
  *)      RID="linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')"; LIB_NAME="libnativepools.so" ;;
esac
LIB_DIR="$ROOT/artifacts/native"
LIB="$LIB_DIR/$LIB_NAME"
HEADER="$ROOT/native-headers/nativepools.h"
export NATIVEPOOLS_LIB="$LIB"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- set-up
ensure_tools() {
  local missing=()
  command -v dotnet >/dev/null || die "the .NET SDK (dotnet) is required: https://dot.net"
  command -v gcc    >/dev/null || missing+=(gcc)
  command -v g++    >/dev/null || missing+=(g++)
  command -v make   >/dev/null || missing+=(make)
  command -v nm     >/dev/null || missing+=(binutils)
  command -v python3 >/dev/null || missing+=(python3)
  if [ "$(uname -s)" = Linux ] && [ ! -e /usr/include/zlib.h ]; then missing+=(zlib1g-dev); fi
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing tools: ${missing[*]} (install them)"
    log "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# ---------------------------------------------------------------- build steps
publish_library() {
  log "publishing $LIB_NAME (NativeAOT, $RID)"
  # Publish beside, then rename into place: processes still running the old library keep their
  # mapping (rename swaps the inode; copying over it would make them fault).
  local staging="$LIB_DIR.next"
  rm -rf "$staging"
  dotnet publish src/NativePools.Native/NativePools.Native.csproj -c Release -r "$RID" \
    -o "$staging" -nologo -v quiet -p:GenerateDocumentationFile=true
  [ -f "$staging/$LIB_NAME" ] || die "publish did not produce $staging/$LIB_NAME"
  mkdir -p "$LIB_DIR"
  local f
  for f in "$staging"/*; do mv -f "$f" "$LIB_DIR/"; done
  rm -rf "$staging"
}

generate_bindings() {
  dotnet build src/NativePools.Bindgen/NativePools.Bindgen.csproj -c Release -nologo -v quiet >/dev/null
  local gen=(dotnet run --no-build -c Release --project src/NativePools.Bindgen -- --root "$ROOT")
  if [ "${CI:-}" = "true" ]; then
    log "checking generated header and bindings are up to date"
    "${gen[@]}" --check || die "committed generated files are stale: run ./build.sh and commit them"
  else
    log "regenerating header and bindings"
    "${gen[@]}"
  fi
}

check_header() {
  log "checking the header compiles (C89..C17, C++98..C++20, -Werror -pedantic) and matches the exported symbols"
  sh src/NativePools.Bindgen/check/check-header.sh "$ROOT" | sed 's/^/   /'
  local exported declared listed
  if [ "$(uname -s)" = Darwin ]; then
    exported=$(nm -gU "$LIB" | awk '{print $3}' | sed 's/^_//' | grep '^np_' | sort)
  else
    exported=$(nm -D --defined-only "$LIB" | awk '$2=="T"{print $3}' | sed 's/@.*//' | grep '^np_' | sort)
  fi
  declared=$(grep -oE '\bnp_[a-z0-9_]+\(' "$HEADER" | tr -d '(' | sort -u)
  listed=$(dotnet run --no-build -c Release --project src/NativePools.Bindgen -- --list-exports | sort)
  if [ "$exported" != "$declared" ] || [ "$exported" != "$listed" ]; then
    diff <(echo "$exported") <(echo "$declared") || true
    die "exported symbols (nm) and header declarations differ"
  fi
  echo "   $(echo "$exported" | wc -l) exported functions, all declared"
}

# The generated Python and Dart layers: ctypes bind() and a callback against the built library,
# and static checks of native.g.dart (no Dart SDK needed).
check_bindings() {
  log "checking the generated Python and Dart bindings"
  python3 src/NativePools.Bindgen/check/python_smoke.py "$ROOT" | sed 's/^/   /'
  python3 src/NativePools.Bindgen/check/dart_check.py "$ROOT" | sed 's/^/   /'
}

build_c() {
  log "building C tests and examples"
  make -s -C bindings/c all NP_LIB_DIR="$LIB_DIR"
}

build_all() {
  ensure_tools
  publish_library
  generate_bindings
  check_header
  check_bindings
  build_c
}

# ---------------------------------------------------------------- test suites
SUMMARY=()
FAILED=0

# run_suite NAME COMMAND...: runs one suite and keeps its summary line. A suite fails when its
# command fails, or when its summary is missing or shows no passed test ("ran no test").
run_suite() {
  local name="$1"; shift
  log "suite: $name"
  local out start=$SECONDS rc
  out=$(mktemp)
  set +e
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  local line passed failures
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed|(Passed|Failed)! +- +Failed:' "$out" | tail -n 1 || true)
  # The names of failed tests go into the summary too: a CI log often keeps only its tail.
  failures=$(grep -E '^ *(Failed [A-Za-z_]|FAIL[: ]|ERROR: |not ok )' "$out" | head -n 10 | sed 's/^ */        /' || true)
  rm -f "$out"
  passed=$(echo "$line" | grep -oE '([0-9]+ passed|Passed: +[0-9]+)' | grep -oE '[0-9]+' | head -n 1 || true)
  if [ $rc -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then rc=1; line="${line:-no summary line}: ran no test"; fi
  if [ $rc -ne 0 ]; then
    FAILED=1; SUMMARY+=("FAIL  $name ($((SECONDS - start)) s): ${line:-no summary line}")
    [ -z "$failures" ] || SUMMARY+=("$failures")
  else
    SUMMARY+=("ok    $name ($((SECONDS - start)) s): $line")
  fi
}

run_tests() {
  run_suite "NUnit (core in-process + libnativepools via P/Invoke)" \
    dotnet test tests/NativePools.Tests/NativePools.Tests.csproj -c Release -nologo --logger "console;verbosity=minimal"
  run_suite "C (pthreads through the header)" make -s -C bindings/c test NP_LIB_DIR="$LIB_DIR"
  run_suite "Adversaries (API fuzzer, soak: bindings/c/adversaries)" make -s -C bindings/c adversaries NP_LIB_DIR="$LIB_DIR"
  run_suite "Python (ctypes, threading)" python3 bindings/python/run_tests.py
  run_suite "README examples" python3 tests/readme/check_readme_examples.py
  run_suite "Scenario parity (tests/README.md)" python3 tests/readme/scenario_parity.py
  run_suite "Dart (static checks; dart test when dart is on PATH)" bash bindings/dart/tool/check.sh

  log "summary"
  printf '%s\n' "${SUMMARY[@]}"
  [ $FAILED -eq 0 ] || die "some suites failed"
}

# ---------------------------------------------------------------- main
cmd="${1:-build}"
case "$cmd" in
  build|"")
    build_all
    log "demo: pools from several C threads"
    "$ROOT/bindings/c/build/demo"
    ;;
  test)
    start=$SECONDS
    build_all
    run_tests
    log "all suites passed in $((SECONDS - start)) s"
    ;;
  bench)
    shift
    build_all
    exec bash bench/run.sh "$@"
    ;;
  *)
    die "unknown command '$cmd' (use: build, test, bench)"
    ;;
esac
