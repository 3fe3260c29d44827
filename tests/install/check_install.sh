#!/usr/bin/env bash
# Checks an installed NativePools the way a user consumes it, from outside the checkout:
#   check_install.sh STAGE TARBALL
# STAGE holds prefix/ (./build.sh install --prefix STAGE/prefix) and destdir/ (the same with
# DESTDIR=STAGE/destdir and --prefix /opt/nativepools); TARBALL is ./build.sh dist's output.
# Prints one line per check and "N passed, N failed".
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAGE="$(cd "$1" && pwd)"; TARBALL="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
PREFIX="$STAGE/prefix"
VERSION="$(tr -d '[:space:]' < "$HERE/../../VERSION")"
MAJOR="${VERSION%%.*}"; MINOR="$(echo "$VERSION" | cut -d. -f2)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0

check() { # check NAME COMMAND...: runs the command in a subshell, in WORK, outside the checkout
  local name="$1"; shift
  local out
  if out=$(cd "$WORK" && "$@" 2>&1); then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; echo "$out" | tail -n 20 | sed 's/^/     /'
  fi
}

expect_output() { # expect_output TEXT COMMAND...: the command succeeds and prints a line containing TEXT
  local text="$1" out; shift
  out=$("$@") || { echo "$out"; echo "$* failed"; return 1; }
  echo "$out"
  grep -qF "$text" <<< "$out"
}

soname_and_links() {
  local lib="$PREFIX/lib"
  [ -f "$lib/libnativepools.so.$VERSION" ] && [ ! -L "$lib/libnativepools.so.$VERSION" ] || { echo "no real file"; return 1; }
  [ "$(readlink "$lib/libnativepools.so.$MAJOR")" = "libnativepools.so.$VERSION" ] || { echo "bad .so.$MAJOR link"; return 1; }
  [ "$(readlink "$lib/libnativepools.so")" = "libnativepools.so.$MAJOR" ] || { echo "bad .so link"; return 1; }
  local dynamic
  dynamic=$(readelf -d "$lib/libnativepools.so.$VERSION") || return 1
  grep -qF "Library soname: [libnativepools.so.$MAJOR]" <<< "$dynamic" || { grep -i soname <<< "$dynamic"; return 1; }
}

exports_are_the_headers() {
  local exported declared
  exported=$(nm -D --defined-only "$PREFIX/lib/libnativepools.so.$VERSION" | awk '$2=="T"{print $3}' | sed 's/@.*//' | sort)
  declared=$(grep -oE '\bnp_[a-z0-9_]+\(' "$PREFIX/include/nativepools.h" | tr -d '(' | sort -u)
  [ "$exported" = "$declared" ] || { diff <(echo "$exported") <(echo "$declared"); return 1; }
  [ -z "$(ls "$PREFIX/lib" | grep -E '\.(dbg|pdb|xml)$')" ] || { echo "debug files installed"; return 1; }
}

build_with_pkg_config() {
  local flags
  flags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags --libs nativepools) || return 1
  [ "$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --modversion nativepools)" = "$VERSION" ] || return 1
  cc -std=c11 -Wall -Wextra -Werror "$HERE/app.c" $flags -o pc_app || return 1
  mkdir -p elsewhere && cd elsewhere && expect_output "nativepools $VERSION: installed" ../pc_app
}

build_with_cmake() {
  local dir="cmake_app"
  mkdir -p "$dir/src" && cp "$HERE/CMakeLists.txt" "$HERE/app.c" "$dir/src/" || return 1
  cmake -S "$dir/src" -B "$dir/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null || return 1
  cmake --build "$dir/build" >/dev/null || return 1
  cd / && expect_output "nativepools $VERSION: installed" "$WORK/$dir/build/app"
}

build_cxx_example() {
  local flags
  flags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags --libs nativepools) || return 1
  g++ -std=c++17 -Wall -Wextra -Werror -pedantic "$HERE/../../bindings/c/examples/hello_pool.cpp" $flags -o cxx_app || return 1
  cd / && expect_output "np::error -6: NP_E_DOUBLE_FREE" "$WORK/cxx_app"
}

cmake_refuses_other_versions() {
  local v
  for v in "$MAJOR.$((MINOR + 1))" "$((MAJOR + 1)).0"; do
    mkdir -p "v$v" && printf 'cmake_minimum_required(VERSION 3.16)\nproject(p C)\nfind_package(nativepools %s CONFIG REQUIRED)\n' "$v" > "v$v/CMakeLists.txt"
    if cmake -S "v$v" -B "v$v/build" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null 2>&1; then
      echo "find_package(nativepools $v) accepted $VERSION"; return 1
    fi
  done
}

destdir_is_honoured() {
  local root="$STAGE/destdir/opt/nativepools"
  [ -f "$root/include/nativepools.h" ] && [ -f "$root/lib/libnativepools.so.$VERSION" ] \
    && [ -f "$root/lib/pkgconfig/nativepools.pc" ] && [ -f "$root/lib/cmake/nativepools/nativepools-config.cmake" ] \
    || { find "$STAGE/destdir" | head; return 1; }
}

tree_listing() { (cd "$1" && find . -mindepth 1 -printf '%P %y %l %m\n' | sort); }

tarball_is_the_install_tree() {
  (cd "$(dirname "$TARBALL")" && sha256sum -c "$(basename "$TARBALL").sha256") || return 1
  mkdir -p untar && tar -C untar -xzf "$TARBALL" || return 1
  local top
  top="untar/$(basename "$TARBALL" .tar.gz)"
  diff <(tree_listing "$PREFIX") <(tree_listing "$top") || return 1
  diff -r "$PREFIX" "$top" || return 1
  # Relocatable: a program builds and runs against the unpacked tree too.
  local flags
  flags=$(PKG_CONFIG_PATH="$WORK/$top/lib/pkgconfig" pkg-config --cflags --libs nativepools) || return 1
  cc "$HERE/app.c" $flags -o tar_app && expect_output "nativepools $VERSION: installed" ./tar_app
}

dotnet_package_in_a_new_console_app() {
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  dotnet pack "$HERE/../../src/NativePools/NativePools.csproj" -c Release -o "$WORK/feed" -nologo -v quiet || return 1
  [ -f "$WORK/feed/NativePools.$VERSION.nupkg" ] || { ls "$WORK/feed"; return 1; }
  local listing
  listing=$(python3 -c "import sys, zipfile; print('\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))" "$WORK/feed/NativePools.$VERSION.nupkg")
  for entry in README.md lib/net10.0/NativePools.dll lib/net10.0/NativePools.xml; do
    grep -qx "$entry" <<< "$listing" || { echo "the package lacks $entry"; return 1; }
  done
  local nuspec
  nuspec=$(python3 -c "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('NativePools.nuspec').decode())" \
    "$WORK/feed/NativePools.$VERSION.nupkg") || return 1
  grep -qF '<license type="expression">MIT</license>' <<< "$nuspec" || { echo "no MIT licence expression"; return 1; }
  dotnet new console -o "$WORK/PoolsDemo" >/dev/null || return 1
  cd "$WORK/PoolsDemo" || return 1
  dotnet add package NativePools --version "$VERSION" --source "$WORK/feed" >/dev/null || return 1
  cp "$HERE/../../bindings/dotnet/example/Program.cs" Program.cs
  expect_output "second free: DoubleFree" dotnet run -p:AllowUnsafeBlocks=true
}

check "SONAME libnativepools.so.$MAJOR and the two symlinks" soname_and_links
check "installed library exports exactly the header's functions, no debug files" exports_are_the_headers
check "C program built with pkg-config runs from another directory" build_with_pkg_config
check "CMake find_package(nativepools $MAJOR.$MINOR CONFIG REQUIRED) builds and runs" build_with_cmake
check "CMake refuses a newer minor or major version" cmake_refuses_other_versions
check "C++ example (nativepools.hpp, -std=c++17 -pedantic -Werror) builds and runs" build_cxx_example
check "DESTDIR is honoured" destdir_is_honoured
check "dist tarball: checksum, same tree as the install, relocatable" tarball_is_the_install_tree
check ".NET: the packed NativePools package runs in a new console app from a local feed" dotnet_package_in_a_new_console_app
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
