"""Autobahn|Testsuite's fuzzingclient against the echo app of tests/autobahn/echo.py, on every loop, with the compiled
and the interpreted server runtime: every case but 9.* (limits and performance), and two of each permessage-deflate
group (`make conformance-ws` runs them all). A FAILED or UNIMPLEMENTED case fails the test, with Autobahn's account of
it; NON-STRICT and INFORMATIONAL ones pass. wstest comes from tests/autobahn/setup.sh (`make test`
runs it first); where it cannot be installed (no Python 2.7), the tests skip with its reason."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
SETUP = HERE / "autobahn" / "setup.sh"
UNAVAILABLE = 3  # setup.sh's exit status when wstest cannot be installed here


def _load_run() -> ModuleType:
    # By path, under a name of its own: tests/autobahn is not a package, and "autobahn" is Autobahn|Python's name.
    spec = importlib.util.spec_from_file_location("autobahn_run", HERE / "autobahn" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


run = _load_run()


@pytest.fixture(scope="session")
def wstest() -> Path:
    done = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    if done.returncode == UNAVAILABLE:
        reason = next((line for line in done.stderr.splitlines() if line.startswith("AUTOBAHN UNAVAILABLE")),
                      done.stderr.strip())
        pytest.skip(reason)
    assert done.returncode == 0, f"tests/autobahn/setup.sh failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    return Path(run.WSTEST)


@pytest.mark.parametrize("loop", run.LOOPS)
@pytest.mark.parametrize("mode", run.MODES)
def test_autobahn_fuzzingclient(wstest: Path, mode: str, loop: str, tmp_path: Path) -> None:
    summary = run.run_one(loop, mode, run.FAST, list(run.SLOW), wstest=wstest, outdir=tmp_path, timeout=600)
    print(summary.report())
    assert len(summary.cases) == 247 + len(run.DEFLATE_SAMPLE), summary.report()  # a spec that matched little passes
    assert not summary.failed, summary.report()
    assert not summary.counts["UNIMPLEMENTED"], summary.report()
    assert summary.counts["OK"] > 200, summary.report()
