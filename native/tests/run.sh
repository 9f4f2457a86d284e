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

# Every C file of native/ is formatted as native/.clang-format says (reformat: cd native && clang-format -i *.c *.h
# fuzz/*.c tests/*.c).
fmt="${CLANG_FORMAT:-clang-format}"
if ! command -v "$fmt" >/dev/null; then
    echo "run.sh: $fmt is missing (make system-deps, or apt-get install clang-format)" >&2
    exit 1
fi
(cd "$native" && "$fmt" --dry-run --Werror ./*.c ./*.h fuzz/*.c tests/*.c tests/*.h)
echo "clang-format: native/ is formatted"
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
# The WebSocket frame core: pure C, on every platform.
"$cc" -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -I"$native" -o "$work/ws_frame_test" "$here/ws_frame_test.c" "$native/ws_frame.c"
"$work/ws_frame_test"
# The JSON text (strings, numbers) of covet._native.json_flat: pure C too.
"$cc" -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -I"$native" -o "$work/json_text_test" "$here/json_text_test.c" "$native/jsontext.c"
"$work/json_text_test"
# The HTTP/2 core on nghttp2: its fuzz corpus replayed through the harness's checks.
if [ -f /usr/include/nghttp2/nghttp2.h ]; then
    "$cc" -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
        -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        -I"$native" -o "$work/h2_replay_test" "$here/h2_replay_test.c" "$native/h2_server.c" -lnghttp2
    "$work/h2_replay_test" "$native"/fuzz/corpus_h2/*
fi
