"""Checks on the source itself: types, layering, packaging."""

from __future__ import annotations

import ast
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_request_path_never_imports_build_path() -> None:
    offenders = []
    for path in sorted((ROOT / "covet" / "runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(("covet.compiler", "mypy", "mypyc")):
                    offenders.append(f"{path.relative_to(ROOT)}: imports {name}")
    assert not offenders, offenders


def test_public_api_is_declared() -> None:
    import covet

    assert sorted(covet.__all__) == sorted(set(covet.__all__))
    for name in covet.__all__:
        assert hasattr(covet, name), name


def test_pip_install_from_outside_the_tree(tmp_path: Path) -> None:
    """`pip install .` (an isolated build, as users get) gives a working `covet` with a compiled runtime."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    # The dependencies come from this environment (a .pth line, whose own .pth files, such as the editable
    # install's finder, are not run), so the test needs no download beyond the isolated build's.
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(env_dir / "bin" / "python"), "-c", where],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_covet_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    build_env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = subprocess.run([*pip, str(ROOT)], capture_output=True, text=True, timeout=600, env=build_env)
    assert out.returncode == 0, out.stdout + out.stderr
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run([str(env_dir / "bin" / "covet"), "--version"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env=run_env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("covet 0.1.0 (runtime=compiled"), version.stdout
    # The pure-Python fallback ships beside the compiled modules and runs from the same install.
    pure = subprocess.run([str(env_dir / "bin" / "covet"), "--version"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=dict(run_env, COVET_PURE_RUNTIME="1"))
    assert pure.stdout.startswith("covet 0.1.0 (runtime=interpreted"), pure.stdout + pure.stderr
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import covet; print(covet.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, env=run_env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr


def _compiled_runtime() -> list[str]:
    """The runtime modules setup.py compiles with mypyc (its COMPILED_RUNTIME)."""
    import re

    listed = re.search(r"^COMPILED_RUNTIME = \[(.*)\]", (ROOT / "setup.py").read_text(), re.M)
    assert listed is not None
    return [n.strip().strip('"') for n in listed.group(1).split(",")]


def test_compiled_runtime_is_current() -> None:
    """The runtime modules setup.py compiles are compiled here, and no extension is older than its source."""

    from covet.runtime import RUNTIME_COMPILED

    names = _compiled_runtime()
    assert RUNTIME_COMPILED, "the dev install has no compiled runtime: run `make test`"
    # Each module's own extension is a shim; its code is in the group's library, rebuilt on every change.
    group = list((ROOT / "covet" / "runtime").glob("_compiled__mypyc.cpython-*.so"))
    assert group, "the runtime's mypyc group library is missing"
    for name in names:
        source = ROOT / "covet" / "runtime" / f"{name}.py"
        built = list(source.parent.glob(f"{name}.cpython-*.so"))
        assert built, f"{name} is not compiled"
        assert group[0].stat().st_mtime >= source.stat().st_mtime, f"{group[0].name} is older than {source.name}"


def test_no_compiled_runtime_module_awaits_inside_a_finally() -> None:
    """mypyc 2.4 compiles an await inside a finally wrongly (docs/upstream/mypyc-await-in-finally.md): a caught
    exception comes back in unrelated code. covet build keeps such user modules interpreted; the runtime modules
    setup.py compiles must not have one."""
    from covet.compiler.build import _await_in_finally

    paths = [ROOT / "covet" / "runtime" / f"{name}.py" for name in _compiled_runtime()]
    found = [_await_in_finally(path, path.read_text()) for path in paths]
    assert [f for f in found if f is not None] == []


def test_importing_covet_needs_no_native_extension() -> None:
    """native/tests/asan_server.sh's test process imports covet (and its config) without the sanitizer runtime the
    instrumented extension needs: only the request path's protocol layers may import covet._native at import."""
    code = ("import sys; sys.modules['covet._native'] = None\n"
            "import covet, covet.staticfiles, covet.runtime.config, covet.runtime.forms\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_no_ignored_file_is_tracked() -> None:
    """Nothing .gitignore calls an artefact (builds, caches, benchmark results) is committed."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    top = subprocess.run([git, "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip("not a git checkout of CovetPy (an unpacked sdist, say): nothing is tracked")
    tracked = subprocess.run([git, "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    assert tracked == "", f"tracked, but ignored as artefacts (git rm --cached them):\n{tracked}"
