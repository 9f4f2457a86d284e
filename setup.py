"""Builds the native extension covet._native from native/.

Warnings are errors: the C core parses untrusted bytes, so nothing that
gcc or clang flags is left standing.  Set COVET_NO_WERROR=1 to build with a
compiler we have not tried.
"""

import os

from setuptools import Extension, setup

flags = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wshadow", "-Wconversion",
         "-Wno-sign-conversion", "-fvisibility=hidden"]
if not os.environ.get("COVET_NO_WERROR"):
    flags.append("-Werror")
if os.environ.get("COVET_DEBUG_NATIVE"):
    flags += ["-O0", "-g", "-UNDEBUG", "-DCOVET_DEBUG=1"]

setup(
    ext_modules=[
        Extension(
            "covet._native",
            sources=["native/http1.c", "native/response.c", "native/module.c"],
            include_dirs=["native"],
            extra_compile_args=flags,
        )
    ]
)
