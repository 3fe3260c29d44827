#!/usr/bin/env bash
# NativePools build driver.
#
#   ./build.sh           set up, publish libnativepools, regenerate the header and bindings,
#                        check them, build the C tests and examples, run the demo
#   ./build.sh test      everything above (minus the demo), then every test suite
#   ./build.sh install [--prefix DIR]   build, then install the header, the library, pkg-config
#                        and CMake files under DIR (default /usr/local; DESTDIR is honoured)
#   ./build.sh dist      build, then write the install tree as artifacts/dist/*.tar.gz + .sha256
#   ./build.sh bench ... benchmark drivers (see bench/README.md)
#
# Environment: CI=true makes a stale committed header or binding an error instead of
# regenerating it; NP_STRESS=full runs the stress tests at full size.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VERSION="$(tr -d '[:space:]' < "$ROOT/VERSION")"
MAJOR="${VERSION%%.*}"
# The library file carries the full version; the SONAME link names the major version; the plain
# name is what the linker's -lnativepools finds.
case "$(uname -s)" in
  Darwin) RID="osx-$(uname -m | sed 's/x86_64/x64/')"; LIB_NAME="libnativepools.dylib"
          LIB_FILE="libnativepools.$VERSION.dylib"; LIB_SONAME="libnativepools.$MAJOR.dylib" ;;
  *)      RID="linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')"; LIB_NAME="libnativepools.so"
          LIB_FILE="libnativepools.so.$VERSION"; LIB_SONAME="libnativepools.so.$MAJOR" ;;
esac
LIB_DIR="$ROOT/artifacts/native"
DEBUG_DIR="$ROOT/artifacts/native-debug"
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
  command -v cmake >/dev/null || missing+=(cmake)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
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
  mkdir -p "$LIB_DIR" "$DEBUG_DIR"
  mv -f "$staging/$LIB_NAME" "$LIB_DIR/$LIB_FILE"
  ln -sfn "$LIB_FILE" "$LIB_DIR/$LIB_SONAME"
  ln -sfn "$LIB_SONAME" "$LIB_DIR/$LIB_NAME"
  # Debug symbols (.dbg), .pdb and XML docs: beside, not with the library.
  local f
  for f in "$staging"/*; do mv -f "$f" "$DEBUG_DIR/"; done
  rm -f "$LIB_DIR"/*.dbg "$LIB_DIR"/*.pdb "$LIB_DIR"/*.xml
  rm -rf "$staging"
}

# The Dart package's pubspec carries the version of VERSION (the other outputs take it from the
# generator): rewritten here, or an error under CI=true when the committed copy differs.
sync_package_versions() {
  local pubspec=bindings/dart/pubspec.yaml
  grep -qx "version: $VERSION" "$pubspec" && return 0
  [ "${CI:-}" = "true" ] && die "$pubspec does not say version: $VERSION (VERSION): run ./build.sh and commit it"
  sed -i "s/^version: .*/version: $VERSION/" "$pubspec"
  log "set $pubspec to version $VERSION"
}

generate_bindings() {
  sync_package_versions
  local built
  built=$(dotnet build src/NativePools.Bindgen/NativePools.Bindgen.csproj -c Release -nologo -v quiet 2>&1) \
    || { echo "$built" | grep -E 'error|Error' | sort -u >&2; die "building the managed code failed"; }
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
  generate_bindings   # first: the library links the generated C shims (src/NativePools.Native/Boundary)
  publish_library
  check_header
  check_bindings
  build_c
}

# ---------------------------------------------------------------- install and dist

# install_tree ROOT: lays out the installed files under ROOT (the prefix, with DESTDIR before it).
# The pkg-config and CMake files locate everything relative to themselves, so the tree is
# relocatable and the dist tarball is the same tree.
install_tree() {
  local root="$1" f
  local inc="$root/include" lib="$root/lib"
  install -d "$inc" "$lib/pkgconfig" "$lib/cmake/nativepools" "$root/share/doc/nativepools"
  install -m 644 "$HEADER" "$ROOT/native-headers/nativepools.hpp" "$inc/"
  install -m 755 "$LIB_DIR/$LIB_FILE" "$lib/"
  ln -sfn "$LIB_FILE" "$lib/$LIB_SONAME"
  ln -sfn "$LIB_SONAME" "$lib/$LIB_NAME"
  for f in nativepools.pc:pkgconfig nativepools-config.cmake:cmake/nativepools nativepools-config-version.cmake:cmake/nativepools; do
    sed -e "s/@VERSION@/$VERSION/g" -e "s/@MAJOR@/$MAJOR/g" -e "s/@MINOR@/$(echo "$VERSION" | cut -d. -f2)/g" \
      "packaging/${f%%:*}.in" > "$lib/${f#*:}/${f%%:*}"
    chmod 644 "$lib/${f#*:}/${f%%:*}"
  done
  install -m 644 LICENSE CHANGELOG.md "$root/share/doc/nativepools/"
}

install_library() {
  local prefix="/usr/local"
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
      --prefix=*) prefix="${1#--prefix=}"; shift ;;
      *) die "install: unknown argument '$1' (use: install [--prefix DIR])" ;;
    esac
  done
  case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
  install_tree "${DESTDIR:-}$prefix"
  log "installed NativePools $VERSION under ${DESTDIR:-}$prefix"
  echo "   cc app.c \$(pkg-config --cflags --libs nativepools)   with PKG_CONFIG_PATH=$prefix/lib/pkgconfig"
  echo "   find_package(nativepools $MAJOR.$(echo "$VERSION" | cut -d. -f2) CONFIG REQUIRED)   with CMAKE_PREFIX_PATH=$prefix"
}

# Writes artifacts/dist/nativepools-VERSION-RID.tar.gz (the install tree under one top folder)
# and its SHA-256 checksum file.
make_dist() {
  local name="nativepools-$VERSION-$RID" dist="$ROOT/artifacts/dist"
  local stage
  stage=$(mktemp -d)
  install_tree "$stage/$name"
  mkdir -p "$dist"
  tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name -czf "$dist/$name.tar.gz" "$name"
  rm -rf "$stage"
  (cd "$dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
  log "wrote $dist/$name.tar.gz and $name.tar.gz.sha256"
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

  local stage
  stage=$(mktemp -d)
  install_library --prefix "$stage/prefix" >/dev/null
  DESTDIR="$stage/destdir" install_library --prefix /opt/nativepools >/dev/null
  make_dist >/dev/null
  run_suite "Install (pkg-config, CMake, SONAME, DESTDIR, dist)" \
    bash tests/install/check_install.sh "$stage" "$ROOT/artifacts/dist/nativepools-$VERSION-$RID.tar.gz"
  rm -rf "$stage"

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
  install)
    shift
    build_all
    install_library "$@"
    ;;
  dist)
    build_all
    make_dist
    ;;
  bench)
    shift
    build_all
    exec bash bench/run.sh "$@"
    ;;
  *)
    die "unknown command '$cmd' (use: build, test, install, dist, bench)"
    ;;
esac
