"""Compiles modules with mypyc into C extensions, C compilation in parallel.

Incremental at both ends: mypy's cache skips re-analysing unchanged modules,
mypyc rewrites only C files whose content changed (``multi_file``), and when
``ccache`` is installed unchanged C files compile from its cache, from any
directory: mypyc's runtime library is the same C in every build.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["compile_modules", "CompileError"]


class CompileError(Exception):
    """mypyc or the C compiler failed; ``output`` holds what they printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


@contextlib.contextmanager
def _restore_logging() -> Iterator[None]:
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def compile_modules(files: list[Path], root: Path, out_dir: Path, cache_dir: Path, *, annotate: Path | None = None,
                    jobs: int | None = None, config: Path | None = None,
                    progress: Callable[[str], None] | None = None,
                    timings: dict[str, float] | None = None, shadows: dict[Path, Path] | None = None) -> list[Path]:
    """Compile ``files`` (one mypyc group) into extension modules under ``out_dir``. ``progress`` is told each
    stage as it starts; ``timings`` gets the seconds of each: generate (mypyc: the C), C compile, link.
    ``shadows``: a file of ``files`` to the text mypyc compiles in its stead (mypy's ``--shadow-file``: the module
    keeps its name and its errors their path)."""
    say = progress or (lambda _: None)
    spent = timings if timings is not None else {}
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    from covet.compiler import fstrings

    fstrings.install()
    jobs = jobs or os.cpu_count() or 1
    flags = ["--strict", "--cache-dir", str(cache_dir)]
    if config is not None:  # the options the type check ran with (typecheck.write_config)
        flags += ["--config-file", str(config)]
    if annotate is not None:
        flags += ["-a", str(annotate)]
    for original, shadow in sorted((shadows or {}).items()):
        flags += ["--shadow-file", os.path.relpath(original, root), str(shadow)]
    rel = [os.path.relpath(f, root) for f in sorted(files)]
    log = io.StringIO()
    if shutil.which("ccache") and "CC" not in os.environ:
        os.environ["CC"] = "ccache gcc"
        # Paths relative to the project, so that mypyc's runtime library (the same C in every build) and unchanged
        # modules hit the cache from another checkout or output directory too; ccache's own settings win.
        os.environ.setdefault("CCACHE_BASEDIR", str(root.resolve()))
        os.environ.setdefault("CCACHE_NOHASHDIR", "1")
    # distutils logs every compiler command at INFO; the build prints its own summary.
    logging.disable(logging.INFO)
    say(f"generating C with mypyc ({len(files)} module{'s' if len(files) != 1 else ''})")
    t0 = time.monotonic()
    with _chdir(root), contextlib.redirect_stdout(log), _restore_logging():
        try:
            # One group, named (not a name a user module is likely to have). Given as a list, which mypyc calls
            # separate compilation: only then does it run mypy incrementally, from the cache the type check left,
            # instead of analysing every module again (the standard library and pydantic: 4.7 s a build).
            exts = mypycify([*flags, *rel], opt_level="3", multi_file=True, target_dir=str(out_dir / "c"),
                            separate=[(rel, "_covet_build_group")])
        except SystemExit as exc:
            raise CompileError("mypyc rejected the code", log.getvalue()) from exc
        spent["generate"] = time.monotonic() - t0
        compiling: list[tuple[float, float]] = []  # (start, end) of each extension's C compilation

        class ParallelBuildExt(build_ext):
            def build_extension(self, ext: Any) -> None:
                compiler = self.compiler
                one = compiler.compile

                def compile_all(sources: list[str], *args: Any, **kwargs: Any) -> list[str]:
                    started = time.monotonic()
                    try:
                        if len(sources) < 2:
                            return list(one(sources, *args, **kwargs))
                        with ThreadPoolExecutor(jobs) as pool:
                            parts = list(pool.map(lambda s: one([s], *args, **kwargs), sources))
                        return [obj for objs in parts for obj in objs]
                    finally:
                        compiling.append((started, time.monotonic()))

                compiler.compile = compile_all
                try:
                    super().build_extension(ext)
                finally:
                    compiler.compile = one

        dist = Distribution({"name": "covet-app", "ext_modules": exts})
        cmd = ParallelBuildExt(dist)
        cmd.build_lib = str(out_dir)
        cmd.build_temp = str(out_dir / "obj")
        cmd.parallel = jobs
        cmd.ensure_finalized()
        c_files = sum(1 for ext in exts for _ in ext.sources)
        cached = ", ccache" if "ccache" in os.environ.get("CC", "") else ""
        say(f"compiling and linking C ({c_files} files, {jobs} jobs{cached})")
        t1 = time.monotonic()
        try:
            cmd.run()
        except Exception as exc:
            raise CompileError(f"C compilation failed: {exc}", log.getvalue()) from exc
        # Extensions compile in parallel: the stage's time is how long any of them was compiling.
        busy, reach = 0.0, t1
        for start, end in sorted(compiling):
            busy += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        spent["C compile"] = busy
        spent["link"] = max(0.0, time.monotonic() - t1 - busy)
    return sorted(out_dir.glob("*.so"))
