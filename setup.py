"""Builds the native extension covet._native from native/, and the hot runtime modules with mypyc.

Warnings are errors: the C core parses untrusted bytes, so nothing that
gcc or clang flags is left standing.  Set COVET_NO_WERROR=1 to build with a
compiler we have not tried.

The runtime modules listed in COMPILED_RUNTIME are compiled with mypyc (pinned
in pyproject's build requirements); their .py sources ship beside them as the
fallback.  COVET_PURE_BUILD=1 builds without them; COVET_RUNTIME_MODULES=a,b
compiles another set (perf/runtime_modules.py measures each that way).

COVET_COVERAGE=1 builds covet._native instrumented for gcov (--coverage, -O0),
for `make test`'s line coverage of native/; never for `make run` or benchmarks.
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

# Each earned its place in perf/micro.py (see docs/compiling.md, "The runtime").
COMPILED_RUNTIME = ["pathtrie", "dispatch", "encode", "state", "exchange", "h1_response", "asyncio_http1", "uring_http1", "formdata", "connection", "ws_session", "uring_ws", "asyncio_ws", "access_record", "routeplan", "h2_session", "asyncio_h2", "uring_link", "uring_h2"]


def runtime_extensions() -> list[Extension]:
    names = COMPILED_RUNTIME
    if "COVET_RUNTIME_MODULES" in os.environ:
        names = [n for n in os.environ["COVET_RUNTIME_MODULES"].split(",") if n]
    if os.environ.get("COVET_PURE_BUILD") == "1" or not names:
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc is not installed; the runtime stays pure Python")
        return []
    return mypycify(
        [f"covet/runtime/{name}.py" for name in names],
        opt_level="3",
        group_name="covet.runtime._compiled",
    )


flags = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wshadow", "-Wconversion",
         "-Wno-sign-conversion", "-fvisibility=hidden"]
if not os.environ.get("COVET_NO_WERROR"):
    flags.append("-Werror")
if os.environ.get("COVET_DEBUG_NATIVE"):
    flags += ["-O0", "-g", "-UNDEBUG", "-DCOVET_DEBUG=1"]
link_flags: list[str] = []
if os.environ.get("COVET_COVERAGE") == "1":
    # -O0 keeps one counted line per source line; the .gcno files go beside the objects (--build-temp).
    flags += ["-O0", "--coverage"]
    link_flags.append("--coverage")


def h2_extensions() -> list[Extension]:
    """covet._h2native, HTTP/2 framed by nghttp2, where its headers are (`make system-deps` installs libnghttp2-dev);
    without them the server frames HTTP/2 with h2. COVET_NO_NGHTTP2=1 builds without it."""
    if os.environ.get("COVET_NO_NGHTTP2") == "1" or not os.path.exists("/usr/include/nghttp2/nghttp2.h"):
        print("setup.py: nghttp2's headers are missing; HTTP/2 is framed by h2 (pure Python)")
        return []
    return [Extension(
        "covet._h2native",
        sources=["native/h2_server.c", "native/h2_binding.c", "native/fields.c", "native/h1_parser.c"],
        include_dirs=["native"],
        extra_compile_args=flags,
        extra_link_args=link_flags,
        libraries=["nghttp2"],
    )]


def native_sources() -> list[str]:
    """covet._native's C files, from native/sources.txt (shared with native/tests/asan_server.sh)."""
    listed = (Path(__file__).parent / "native" / "sources.txt").read_text().splitlines()
    names = [line.strip() for line in listed if line.strip() and not line.startswith("#")]
    return [f"native/{name}" for name in names if sys.platform == "linux" or not name.startswith("uring_")]


setup(
    ext_modules=[
        Extension(
            "covet._native",
            sources=native_sources(),
            include_dirs=["native"],
            extra_compile_args=flags,
            extra_link_args=link_flags,
            # OpenSSL for the io_uring core's TLS (native/uring_tls.c); `make system-deps` installs libssl-dev.
            libraries=["ssl", "crypto"] if sys.platform == "linux" else [],
        ),
        *h2_extensions(),
        *runtime_extensions(),
    ]
)
