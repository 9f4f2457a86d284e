#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the C core and fuzzes each for
# ${FUZZ_SECONDS:-60} seconds on a temporary copy of its seed corpus:
# "parser" (fuzz_parser.c, corpus/), "fields", the response-header check
# (fuzz_fields.c, corpus_fields/), and "ws", the WebSocket frame parser
# (fuzz_ws.c, corpus_ws/), "h2", the HTTP/2 core on nghttp2 (fuzz_h2.c, corpus_h2/, linked to the system's
# libnghttp2), and "json", the JSON text writers of json_flat (fuzz_json.c, corpus_json/); FUZZ_TARGETS picks some.
# Exits non-zero on any crash, sanitizer report or failed property check;
# the reproducer is left in ${FUZZ_ARTIFACTS:-<temp dir>/artifacts}.
#
# Needs clang with the libFuzzer runtime (Debian: apt-get install clang;
# if linking -fsanitize=fuzzer fails, also libclang-rt-14-dev).
# The targets run at the same time, a process each; FUZZ_JOBS (default 1)
# runs that many fuzzing processes per target: keep it low on a shared machine.
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

mkdir -p "${FUZZ_ARTIFACTS:-$work/artifacts}"
artifacts="$(cd "${FUZZ_ARTIFACTS:-$work/artifacts}" && pwd)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

par=()
if [ "$jobs" -gt 1 ]; then par=(-jobs="$jobs" -workers="$jobs"); fi

# target: harness, the C sources it tests, its seed corpus (a folder beside this script)
fuzz_one() {
    local name="$1" corpus="$2"; shift 2
    mkdir -p "$work/$name/corpus"
    cp -R "$here/$corpus/." "$work/$name/corpus/"
    "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        -I"$native" -o "$work/$name/fuzz" "$@"
    local status=0
    # run inside the target's temp dir: libFuzzer drops fuzz-N.log files in the cwd
    (cd "$work/$name" && "$work/$name/fuzz" "$work/$name/corpus" \
        -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "${par[@]}") \
        > "$work/$name/fuzz.log" 2>&1 || status=$?
    # The full log is long (a line per new input); show its end.
    echo "== fuzz $name"
    tail -n 25 "$work/$name/fuzz.log"
    if [ "$status" -ne 0 ] || ls "$artifacts" | grep -qE "^$name-(crash|leak|timeout|oom)-"; then
        keep_work=1
        echo "fuzz: $name FAILED (status $status); reproducers in $artifacts:" >&2
        ls -l "$artifacts" >&2 || true
        return 1
    fi
    echo "fuzz: $name OK, ${seconds}s without findings"
}

targets="${FUZZ_TARGETS:-parser fields ws h2 json}"
for t in $targets; do
    case "$t" in
    parser | fields | ws | h2 | json) ;;
    *) echo "fuzz: unknown target $t (parser, fields, ws, h2, json)" >&2; exit 2 ;;
    esac
done
run_target() {
    case "$1" in
    parser) fuzz_one parser corpus "$here/fuzz_parser.c" "$native/h1_parser.c" ;;
    fields) fuzz_one fields corpus_fields "$here/fuzz_fields.c" "$native/fields.c" "$native/h1_parser.c" ;;
    ws) fuzz_one ws corpus_ws "$here/fuzz_ws.c" "$native/ws_frame.c" ;;
    h2) fuzz_one h2 corpus_h2 "$here/fuzz_h2.c" "$native/h2_server.c" -lnghttp2 ;;
    json) fuzz_one json corpus_json "$here/fuzz_json.c" "$native/jsontext.c" ;;
    esac
}
# The targets fuzz side by side, each for the whole ${seconds}s (one process each, on CI's two cores), and report in
# order.
pids=()
for t in $targets; do
    run_target "$t" > "$work/$t.out" 2>&1 &
    pids+=("$!")
done
failed=0
i=0
for t in $targets; do
    wait "${pids[$i]}" || failed=1
    cat "$work/$t.out"
    i=$((i + 1))
done
if [ "$failed" != 0 ]; then keep_work=1; fi
exit "$failed"
