#!/bin/sh
# run.sh [--unit-only] BUILD_DIR... - run the unit tests and the integration
# tests against each build (build/ and build-asan/), then print the total
# as the last line: "N passed, N failed".
set -u
unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi
[ $# -gt 0 ] || set -- build
cd "$(dirname "$0")/.." || exit 2
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Add up every "... N passed, N failed" line a suite printed.
tally() {
    counts=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | awk '{p+=$1; f+=$3} END {print p+0, f+0}')
    p=${counts% *}
    f=${counts#* }
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$1: exited with status $2 without reporting a failure" >&2
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

for b in "$@"; do
    export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    for t in "$b"/tests/test_*; do
        [ -x "$t" ] || continue
        echo "== $t"
        "$t" >"$log" 2>&1
        rc=$?
        cat "$log"
        tally "$t" $rc
    done
    for t in "$b"/tests/fuzz_*; do
        [ -x "$t" ] || continue
        echo "== $t (corpus replay)"
        name=$(basename "$t")
        "$t" "tests/fuzz/corpus/${name#fuzz_}" >"$log" 2>&1
        rc=$?
        cat "$log"
        tally "$t" $rc
    done
    if [ $unit_only -eq 0 ]; then
        for t in tests/integration/test_*.py; do
            echo "== $t against $b/modgate"
            python3 "$t" --bin "$b/modgate" >"$log" 2>&1
            rc=$?
            cat "$log"
            tally "$t ($b)" $rc
        done
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
