#!/usr/bin/env bash
# The io_uring server's own tests against covet._native built with AddressSanitizer.
#
# A copy of the project (tracked files) gets an ASan build of the extension; the uring tests then run from that
# copy, on the interpreted runtime, with Python's allocator routed to malloc so that ASan sees every connection,
# parser and output queue the core allocates. Any report aborts the server, and the test that drove it fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$(realpath -s "${PY:-$root/.venv/bin/python}")"  # absolute, the venv link kept
cc="${CC_ASAN:-gcc}"
work="$(mktemp -d "${TMPDIR:-/tmp}/covet-asan.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
n="$root/native"
"$cc" -std=c11 -g -O1 -fPIC -shared -fsanitize=address -fno-omit-frame-pointer \
    -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
    -I"$n" -I"$inc" -o "$work/covet/_native$suffix" \
    $(grep -v '^#' "$n/sources.txt" | sed "s|^|$n/|") -lssl -lcrypto
# HTTP/2's framing on nghttp2 (the system's library, not instrumented; our side of it is).
"$cc" -std=c11 -g -O1 -fPIC -shared -fsanitize=address -fno-omit-frame-pointer \
    -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror \
    -I"$n" -I"$inc" -o "$work/covet/_h2native$suffix" \
    "$n/h2_server.c" "$n/h2_binding.c" "$n/fields.c" "$n/h1_parser.c" -lnghttp2

cd "$work"
export COVET_TEST_SERVER_PRELOAD="$("$cc" -print-file-name=libasan.so)"
# Python frees what it keeps until exit: leaks are not what this run looks for.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:quarantine_size_mb=16"
export PYTHONMALLOC=malloc
# The servers really load the instrumented build: it needs the sanitizer's runtime to import at all.
if "$py" -c 'import covet._native' 2>/dev/null; then
    echo "asan_server.sh: covet._native imported without the ASan runtime: not an ASan build" >&2
    exit 1
fi
LD_PRELOAD="$COVET_TEST_SERVER_PRELOAD" "$py" -c 'import covet._native'
# (The memory-bound upload test runs in the main suite: ASan's quarantine holds freed memory on purpose.)
# The direct_core tests drive the core without a server (tests/direct_core.py): a GC-time release, a 4 GiB send.
# TLS: test_tls.py's io_uring cases and test_uring_tls.py's hostile clients, through native/uring_tls.c.
# WebSockets: the core's raw mode (native/uring_http1.c) and the frame parser, but for the tests that bound the
# server's memory (ASan's redzones and quarantine are not the server's).
# HTTP/2: the nghttp2 core in the servers (test_http2, the conformance cases); in process, fuzz_h2.c runs it under
# ASan and UBSan.
"$py" -m pytest -q -n 2 -p no:cacheprovider tests/test_uring_server.py tests/test_http1_server.py tests/test_api.py \
    tests/test_uploads.py tests/test_accesslog.py tests/test_metrics.py tests/test_tls.py tests/test_uring_tls.py \
    tests/test_websockets.py tests/test_http2.py tests/test_h2_conformance.py \
    -k "(interpreted-uring and not compiled and not memory_stays_bounded and not ten_thousand and not grow \
        and not stops_the_reading and not reads_nothing and not bad_compressed) or direct_core"
