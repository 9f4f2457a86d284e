#!/usr/bin/env bash
# `make test`: the whole suite once, measured; then line coverage of covet/ and of native/, each failing below 90%.
#
# covet/ (coverage.py, configured in pyproject.toml): pytest runs under `coverage run`, and every Python subprocess
# the tests start (`covet serve`, `covet build`) is measured too, through the .pth hook coverage installs
# (`patch = ["subprocess"]`). Servers stop on SIGTERM and exit normally, which saves their data.
# native/ (gcov, reported by gcovr): covet/_native must be the instrumented build (setup.py with COVET_COVERAGE=1,
# objects in build/coverage/temp; the Makefile's native-coverage stamp). Every process that loads it, in-process
# tests and servers of both modes, adds its counts at exit. The C unit tests of native/tests/ are built here with
# --coverage (no sanitizers; `make native-test` runs them under ASan) and count as well.
# Arguments go to pytest. PY is the interpreter (default .venv/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PY:-.venv/bin/python}"
gcov_dir=build/coverage
fail_under=90
status=0

if ! ls covet/_native.*.so >/dev/null 2>&1 || ! grep -q __gcov_ covet/_native.*.so; then
    echo "coverage.sh: covet/_native is not the instrumented build (make test builds it)" >&2
    exit 1
fi
"$py" -m coverage erase
find "$gcov_dir" -name '*.gcda' -delete

if [ "$(uname -s)" = Linux ]; then
    mkdir -p "$gcov_dir/ctests"
    n="$PWD/native"
    cflags=(-std=c11 -O0 -g --coverage -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion -Werror -I"$n")
    { gcc "${cflags[@]}" -o "$gcov_dir/ctests/uring_probe_test" "$n/tests/uring_probe_test.c" "$n/uring_probe.c" &&
      "$gcov_dir/ctests/uring_probe_test" &&
      gcc "${cflags[@]}" -o "$gcov_dir/ctests/ring_test" "$n/tests/ring_test.c" "$n/uring_ring.c" "$n/uring_probe.c" &&
      "$gcov_dir/ctests/ring_test" &&
      gcc "${cflags[@]}" -o "$gcov_dir/ctests/h2_replay_test" "$n/tests/h2_replay_test.c" "$n/h2_server.c" \
        -lnghttp2 &&
      "$gcov_dir/ctests/h2_replay_test" "$n"/fuzz/corpus_h2/* >/dev/null; } || status=1
fi

# Three processes on two cores (pytest-xdist; an idle one takes tests from the others): much of the time is servers
# and builds waited for, so two processes kept the cores 81% busy (1,228 s); three ran the suite in 895 s. Each
# build is made once (conftest.built_once). COVET_TEST_JOBS=0 runs it in one process.
jobs="${COVET_TEST_JOBS:-3}"
xdist=()
[ "$jobs" = 0 ] || xdist=(-n "$jobs" --dist worksteal)
# --durations: the slowest tests, so that the suite's time (CI allows 20 minutes) can be watched run by run.
"$py" -m coverage run -m pytest -q "${xdist[@]}" --durations=30 "$@" || status=$?

echo
echo "== covet/ line coverage (coverage.py; mypyc-compiled modules count from the interpreted runs)"
"$py" -m coverage combine -q
"$py" -m coverage report --sort=cover --fail-under="$fail_under" || { [ "$status" != 0 ] || status=1; }
py_total="$("$py" -m coverage report --format=total --fail-under=0 2>/dev/null | head -1)"

echo
echo "== native/ line coverage (gcov; every native/*.c, the fuzz harnesses and C tests not counted)"
if ! ls "$gcov_dir"/temp/native/*.gcda >/dev/null 2>&1; then
    echo "coverage.sh: no gcov data from covet/_native: did the servers exit normally?" >&2
    status=1
fi
"$py" -m gcovr --root . --filter 'native/[^/]+\.c$' --sort uncovered-percent --print-summary \
    --fail-under-line "$fail_under" "$gcov_dir" | tee "$gcov_dir/summary.txt" || { [ "$status" != 0 ] || status=1; }
native_total="$(sed -n 's/^lines: \([0-9.]*%\).*/\1/p' "$gcov_dir/summary.txt")"

echo
echo "coverage: covet/ ${py_total}%, native/ ${native_total} (each must reach ${fail_under}%)"
exit "$status"
