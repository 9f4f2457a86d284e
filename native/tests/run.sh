#!/usr/bin/env bash
# Builds and runs the C core's own tests under AddressSanitizer and UBSan, warnings as errors.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
native="$(dirname "$here")"
cc="${CC_TEST:-clang}"
work="$(mktemp -d "${TMPDIR:-/tmp}/covet-native-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ "$(uname -s)" = Linux ]; then
    "$cc" -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        -I"$native" -o "$work/uring_probe_test" "$here/uring_probe_test.c" "$native/uring_probe.c"
    "$work/uring_probe_test"
fi
if [ "$(uname -s)" = Linux ]; then
    "$cc" -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        -I"$native" -o "$work/ring_test" "$here/ring_test.c" "$native/uring_ring.c" "$native/uring_probe.c"
    "$work/ring_test"
fi
