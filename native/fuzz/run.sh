#!/usr/bin/env bash
# Builds the libFuzzer harness for the C core and fuzzes it for
# ${FUZZ_SECONDS:-60} seconds on a temporary copy of the seed corpus.
# Exits non-zero on any crash, sanitizer report or failed property check;
# the reproducer is left in ${FUZZ_ARTIFACTS:-<temp dir>/artifacts}.
#
# Needs clang with the libFuzzer runtime (Debian: apt-get install clang;
# if linking -fsanitize=fuzzer fails, also libclang-rt-14-dev).
# FUZZ_JOBS (default 1) runs that many fuzzing processes; keep it low on a
# shared machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
native="$(dirname "$here")"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
cc="${CC_FUZZ:-clang}"

work="$(mktemp -d "${TMPDIR:-/tmp}/covet-fuzz.XXXXXX")"
keep_work=0
cleanup() { if [ "$keep_work" = 0 ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

mkdir -p "$work/corpus" "${FUZZ_ARTIFACTS:-$work/artifacts}"
artifacts="$(cd "${FUZZ_ARTIFACTS:-$work/artifacts}" && pwd)"
cp -R "$here/corpus/." "$work/corpus/"

"$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -I"$native" -o "$work/fuzz_parser" \
    "$here/fuzz_parser.c" "$native/http1.c"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

par=()
if [ "$jobs" -gt 1 ]; then par=(-jobs="$jobs" -workers="$jobs"); fi

status=0
# run inside the temp dir: libFuzzer drops fuzz-N.log files in the cwd
(cd "$work" && "$work/fuzz_parser" "$work/corpus" \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${par[@]}") \
    > "$work/fuzz.log" 2>&1 || status=$?
# The full log is long (a line per new input); show its end.
tail -n 25 "$work/fuzz.log"

if [ "$status" -ne 0 ] || ls "$artifacts" | grep -qE '^(crash|leak|timeout|oom)-'; then
    keep_work=1
    echo "fuzz: FAILED (status $status); reproducers in $artifacts:" >&2
    ls -l "$artifacts" >&2 || true
    exit 1
fi
echo "fuzz: OK, ${seconds}s without findings"
