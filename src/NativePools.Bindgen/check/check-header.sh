#!/bin/sh
# Checks the generated header: it compiles warning-free as C and C++ in several standards, and a
# small program built with it links against the real library and runs.
# Usage: src/NativePools.Bindgen/check/check-header.sh [repo-root]   (needs gcc, g++ and the built .so)
set -eu
root=$(cd "${1:-$(dirname "$0")/../../..}" && pwd)
header="$root/native-headers/nativepools.h"
lib_dir="$root/artifacts/native"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# C89 and C++98 have no long long; the header needs it (ULL literals), so only that warning is off there.
for std in c89 c99 c11 c17 gnu99; do
    if [ "$std" = c89 ]; then extra="-Wno-long-long"; else extra=""; fi
    gcc -std=$std -Wall -Wextra -Werror -pedantic $extra -fsyntax-only -x c "$header"
    echo "ok: gcc -std=$std"
done
for std in c++98 c++11 c++17 c++20; do
    if [ "$std" = c++98 ]; then extra="-Wno-long-long"; else extra=""; fi
    g++ -std=$std -Wall -Wextra -Werror -pedantic $extra -fsyntax-only -x c++ "$header"
    echo "ok: g++ -std=$std"
done

# A false assertion must stop the build in every form of NP_STATIC_ASSERT: C11 keyword, GNU C99
# extension, C++11 keyword, and the negative-array fallback (C++98).
printf '#include "nativepools.h"\nNP_STATIC_ASSERT(sizeof(np_pool_options) == 1, "must fail");\n' > "$work/negative.c"
for compiler in "gcc -std=c11" "gcc -std=c99" "g++ -std=c++17 -x c++" "g++ -std=c++98 -Wno-long-long -x c++"; do
    if $compiler -pedantic -fsyntax-only -I"$root/native-headers" "$work/negative.c" 2>/dev/null; then
        echo "FAIL: a false NP_STATIC_ASSERT compiled with $compiler" >&2; exit 1
    fi
    echo "ok: a false NP_STATIC_ASSERT is rejected by $compiler"
done

# Callback typedefs are function pointers of exactly their signature: a correctly typed handler
# converts to np_handler_fn in every mode, and one differing in a single parameter (uint64_t
# route_id) does not (C: incompatible pointer types under -Werror; C++: always an error).
handler_with() {
    printf '#include "nativepools.h"\n'
    printf 'static np_status handler(void* user_data, %s route_id, const uint8_t* request, uint32_t request_length,\n' "$1"
    printf '    uint8_t* response, uint32_t response_capacity, uint32_t* response_length)\n'
    printf '{ (void)user_data; (void)route_id; (void)request; (void)request_length; (void)response;\n'
    printf '  (void)response_capacity; (void)response_length; return NP_OK; }\n'
    printf 'np_handler_fn take_handler(void);\nnp_handler_fn take_handler(void) { return handler; }\n'
}
handler_with uint32_t > "$work/handler_right.c"
handler_with uint64_t > "$work/handler_wrong.c"
for compiler in "gcc -std=c89 -Wno-long-long" "gcc -std=c99" "gcc -std=c17" \
                "g++ -std=c++98 -Wno-long-long -x c++" "g++ -std=c++11 -x c++" "g++ -std=c++20 -x c++"; do
    $compiler -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$root/native-headers" "$work/handler_right.c"
    if $compiler -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$root/native-headers" "$work/handler_wrong.c" 2>/dev/null; then
        echo "FAIL: a handler with the wrong signature converted to np_handler_fn with $compiler" >&2; exit 1
    fi
    echo "ok: np_handler_fn takes exactly its signature with $compiler"
done

gcc -std=c99 -Wall -Wextra -Werror -pedantic -I"$root/native-headers" \
    "$(dirname "$0")/header_smoke.c" -L"$lib_dir" -lnativepools -Wl,-rpath,"$lib_dir" -o "$work/header_smoke"
"$work/header_smoke"
