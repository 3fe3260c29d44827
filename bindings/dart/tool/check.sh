#!/usr/bin/env bash
# Static checks of the Dart package that need no Dart SDK, then (when `dart`
# is on PATH) `dart analyze` and `dart test`.
#
#  1. Every np_* function the Dart code calls on the bindings exists in
#     native-headers/nativepools.h and in lib/src/native.g.dart, and every
#     function the header declares is bound in native.g.dart.
#  2. Every NP_* constant and np_* struct the Dart code names is generated.
#  3. Every import/export in lib/, test/ and example/ resolves: dart: core
#     libraries, this package's lib/ files, packages declared in pubspec.yaml
#     (lib/ may use only regular dependencies), relative files that exist.
#  4. Every NP_E_* status generated in native.g.dart is exported by
#     lib/nativepools.dart.
#
# Usage: tool/check.sh            (from anywhere; exits 1 on any failure)
# Ends with the line "N passed, N failed".
set -u

package_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_dir="$(cd "$package_dir/../.." && pwd)"
header="$repo_dir/native-headers/nativepools.h"
generated="$package_dir/lib/src/native.g.dart"
pubspec="$package_dir/pubspec.yaml"

passed=0
failed=0
pass() { passed=$((passed + 1)); }
contains() { local item="$1"; shift; local x; for x in "$@"; do [ "$x" = "$item" ] && return 0; done; return 1; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

cd "$package_dir" || exit 1

# Hand-written Dart sources (the generated layer is the reference, not a user).
mapfile -t sources < <(find lib test example -name '*.dart' ! -name 'native.g.dart' 2>/dev/null | sort)
if [ "${#sources[@]}" -eq 0 ]; then
  fail "no Dart sources found under $package_dir"
fi

for file in "$header" "$generated"; do
  if [ -f "$file" ]; then pass; else fail "missing $file (run the bindings generator)"; fi
done

# Comments and single-quoted string literals stripped, so documentation and
# messages that mention a name do not count as uses.
strip_comments() { sed -E -e 's://.*$::' -e "s/'[^']*'//g" "$@"; }

# --- 1. functions ------------------------------------------------------------
mapfile -t called < <(strip_comments "${sources[@]}" |
  grep -oE '\.np_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/^\.//; s/[[:space:](]+$//' | sort -u)
if [ "${#called[@]}" -eq 0 ]; then
  fail "found no np_* calls in the Dart sources (the scan is broken)"
fi
for name in "${called[@]}"; do
  if [ -f "$header" ] && grep -qE "[[:space:]*]${name}[[:space:]]*\(" "$header"; then
    pass
  else
    fail "$name is called from Dart but not declared in native-headers/nativepools.h"
  fi
  if [ -f "$generated" ] && grep -qE "late final ${name}[[:space:]]*=" "$generated"; then
    pass
  else
    fail "$name is called from Dart but not bound in lib/src/native.g.dart"
  fi
done

if [ -f "$header" ] && [ -f "$generated" ]; then
  mapfile -t declared < <(grep -oE '^[a-z_][a-z0-9_ ]*[ *](np_[a-z0-9_]+)\(' "$header" |
    grep -oE 'np_[a-z0-9_]+\($' | tr -d '(' | sort -u)
  if [ "${#declared[@]}" -eq 0 ]; then
    fail "found no function declarations in the header (the scan is broken)"
  fi
  for name in "${declared[@]}"; do
    if grep -qE "late final ${name}[[:space:]]*=" "$generated"; then
      pass
    else
      fail "$name is declared in the header but not bound in native.g.dart"
    fi
  done
fi

# --- 2. constants and structs --------------------------------------------------
mapfile -t constants < <(strip_comments "${sources[@]}" | grep -oE '\bNP_[A-Z0-9_]+\b' | sort -u)
for name in "${constants[@]}"; do
  if [ -f "$generated" ] && grep -qE "^const int ${name} =" "$generated"; then
    pass
  else
    fail "constant $name is used but not generated in native.g.dart"
  fi
done
mapfile -t structs < <(strip_comments "${sources[@]}" | grep -oE '\bnp_[a-z0-9_]+\b' |
  sort -u | while read -r name; do
    contains "$name" "${called[@]}" && continue
    if [ -f "$generated" ] && ! grep -qE "late final ${name}[[:space:]]*=" "$generated"; then
      echo "$name"
    fi
  done)
for name in "${structs[@]}"; do
  if [ -f "$generated" ] && grep -qE "^final class ${name} extends Struct" "$generated" &&
     [ -f "$header" ] && grep -qE "^typedef struct ${name}\b" "$header"; then
    pass
  else
    fail "np name $name is used but is neither a bound function nor a struct in both the header and native.g.dart"
  fi
done

# --- 3. imports ----------------------------------------------------------------
package_name="$(sed -nE 's/^name:[[:space:]]*([a-z0-9_]+).*/\1/p' "$pubspec")"
# Top-level keys of a pubspec section, e.g. "ffi" under "dependencies:".
section_packages() {
  awk -v section="$1:" '
    /^[^[:space:]#]/ { inside = ($1 == section); next }
    inside && /^  [a-z0-9_]+:/ { sub(/^  /, ""); sub(/:.*/, ""); print }
  ' "$pubspec"
}
mapfile -t dependencies < <(section_packages dependencies)
mapfile -t dev_dependencies < <(section_packages dev_dependencies)
dart_libraries=" async collection convert core ffi io isolate math typed_data "

for source in "${sources[@]}"; do
  # import/export URIs; a directive may continue on later lines (show ...).
  while IFS= read -r uri; do
    case "$uri" in
      dart:*)
        if [[ "$dart_libraries" == *" ${uri#dart:} "* ]]; then pass
        else fail "$source: unknown core library $uri"; fi
        ;;
      package:*)
        rest="${uri#package:}"
        name="${rest%%/*}"
        path="${rest#*/}"
        if [ "$name" = "$package_name" ]; then
          if [ -f "lib/$path" ]; then pass; else fail "$source: $uri does not resolve (no lib/$path)"; fi
        elif contains "$name" "${dependencies[@]}"; then
          pass
        elif contains "$name" "${dev_dependencies[@]}"; then
          if [[ "$source" == lib/* ]]; then
            fail "$source: $uri is a dev dependency, unusable from lib/"
          else
            pass
          fi
        else
          fail "$source: package $name is not declared in pubspec.yaml"
        fi
        ;;
      *)
        target="$(dirname "$source")/$uri"
        if [ ! -f "$target" ]; then
          fail "$source: relative import $uri does not resolve"
        elif [[ "$source" == lib/* ]] && [[ "$(cd "$(dirname "$target")" && pwd)/" != "$package_dir/lib/"* ]]; then
          fail "$source: relative import $uri leaves lib/"
        else
          pass
        fi
        ;;
    esac
  done < <(grep -oE "^(import|export)[[:space:]]+'[^']+'" "$source" | sed -E "s/^(import|export)[[:space:]]+'([^']+)'/\2/")
done

# --- 4. exported statuses --------------------------------------------------------
# Every np_status the library defines reaches users of lib/nativepools.dart, so
# they can compare NativePoolsException.status with it.
if [ -f "$generated" ]; then
  mapfile -t statuses < <(grep -oE '^const int NP_E_[A-Z0-9_]+' "$generated" | sed 's/^const int //' | sort -u)
  if [ "${#statuses[@]}" -eq 0 ]; then
    fail "found no NP_E_* constants in native.g.dart (the scan is broken)"
  fi
  for name in "${statuses[@]}"; do
    if strip_comments lib/nativepools.dart | grep -qE "\b${name}\b"; then
      pass
    else
      fail "status $name is generated but not exported by lib/nativepools.dart"
    fi
  done
fi

# --- 5. the Dart SDK, when there is one ---------------------------------------------
if command -v dart >/dev/null 2>&1; then
  if [ -z "${NATIVEPOOLS_LIB:-}" ] && [ -f "$repo_dir/artifacts/native/libnativepools.so" ]; then
    export NATIVEPOOLS_LIB="$repo_dir/artifacts/native/libnativepools.so"
  fi
  if dart pub get; then pass; else fail "dart pub get"; fi
  if dart analyze; then pass; else fail "dart analyze"; fi
  if dart test; then pass; else fail "dart test"; fi
else
  echo "note: dart is not on PATH; dart analyze and dart test did not run"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
