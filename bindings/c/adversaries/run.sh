#!/bin/sh
# Runs the adversaries (README.md beside this file) and prints "adversaries: N passed, N failed".
#   sh adversaries/run.sh BUILD_DIR
# NP_STRESS=full runs them at full size; NP_FUZZ_SEED=S starts the fuzzer's seeds at S.
BUILD="${1:-build}"
HEADER_DIR="${NP_INCLUDE_DIR:-../../native-headers}"
passed=0
failed=0

tally() { # tally NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok    $1"; else failed=$((failed + 1)); echo "FAIL: $1"; fi
}

# Controls first: they prove the checks can fail. The fuzzer run against a header whose
# np_pool_free list lacks NP_E_FOREIGN_POINTER must report that status as a finding, and a
# child that dies of a signal must be reported with its seed.
tmp="$(mktemp)"
sed 's/NP_E_DOUBLE_FREE; NP_E_FOREIGN_POINTER;/NP_E_DOUBLE_FREE;/' "$HEADER_DIR/nativepools.h" > "$tmp"
if cmp -s "$tmp" "$HEADER_DIR/nativepools.h"; then
    echo "skipped: control of the documented-status check (np_pool_free's @return list changed shape)"
else
    out="$(NP_HEADER="$tmp" "$BUILD/fuzz_api" --seed 11 --calls 20000 2>&1)"
    rc=$?
    echo "$out" | grep -m 1 'FINDING.*np_pool_free returned NP_E_FOREIGN_POINTER' | sed 's/^/   control| /'
    echo "$out" | grep -q 'FINDING.*np_pool_free returned NP_E_FOREIGN_POINTER' && [ $rc -ne 0 ]
    tally "control: an undocumented status is a finding" $?
fi
rm -f "$tmp"
out="$(NP_FUZZ_CONTROL=crash "$BUILD/fuzz_api" --seed 12 --calls 1000 2>&1)"
rc=$?
echo "$out" | grep -m 1 'died of signal' | sed 's/^/   control| /'
echo "$out" | grep -q 'seed 12 died of signal 11' && [ $rc -ne 0 ]
tally "control: a child killed by a signal fails with its seed" $?
out="$(NP_FUZZ_CONTROL=stamp "$BUILD/fuzz_api" --seed 13 --calls 5000 2>&1)"
rc=$?
echo "$out" | grep -m 1 'lost its stamp' | sed 's/^/   control| /'
echo "$out" | grep -q 'FINDING.*lost its stamp' && [ $rc -ne 0 ]
tally "control: a block changed while owned is a finding" $?

"$BUILD/fuzz_api"
tally "fuzz_api (every seed)" $?

# The soak's judge must see a leak: with NP_SOAK_CONTROL=leak it keeps a descriptor, a thread
# and 4 MiB per sample, and each of its three rules must report growth.
out="$(NP_SOAK_CONTROL=leak "$BUILD/soak" 12 2>&1)"
rc=$?
echo "$out" | grep 'GROWS' | sed 's/^/   control| /'
[ "$(echo "$out" | grep -c 'FAIL: soak: .* grows after warm-up')" -eq 3 ] && [ $rc -ne 0 ]
tally "control: the soak's judge reports a leak of memory, descriptors and threads" $?

"$BUILD/soak"
tally "soak (checks held, series flat)" $?

echo "adversaries: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
