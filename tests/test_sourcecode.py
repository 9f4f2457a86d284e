"""Checks on the source itself: types, layering, packaging."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
from pathlib import Path

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
    """`pip install .` gives a working `covet` command, used from another directory."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    build_env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = subprocess.run([*pip, str(ROOT)], capture_output=True, text=True, timeout=600, env=build_env)
    assert out.returncode == 0, out.stdout + out.stderr
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    version = subprocess.run([str(env_dir / "bin" / "covet"), "--version"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env=run_env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("covet 0.1.0")
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import covet; print(covet.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, env=run_env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
