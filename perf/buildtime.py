"""How long `covet build` takes on a 20-route app: cold, after editing one handler, and with nothing changed.

Cold means no build directory, no mypy cache and no compiler cache (ccache is
turned off), so the figure is what a fresh CI machine pays.

    python perf/buildtime.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COVET_PY = Path(os.environ.get("COVET_PYTHON", HERE.parent / ".venv" / "bin" / "python"))


def build(project: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([str(COVET_PY), "-m", "covet", "build", "routes20:app"], cwd=project, env=env,
                         capture_output=True, text=True)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"buildtime: covet build failed:\n{out.stderr}")
    return took


# Two edits to one handler: one changes only code, the other adds a string constant (mypyc keeps
# every module's constants in one table, so that one rewrites the C of the whole group).
EDITS = [("code", "    return word * times\n", "    return (word + word[:0]) * times\n"),
         ("constant", 'return {"status": "up"}', 'return {"status": "up!"}')]


def run(ccache: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(HERE / "apps" / "routes20.py", project / "routes20.py")
        # Cold means cold: no seed of an earlier build's mypy cache (covet/compiler/mypycache.py).
        env = dict(os.environ, PYTHONPATH=str(project), COVET_CACHE_DIR="off")
        if not ccache:
            env["CCACHE_DISABLE"] = "1"
        times = {"cold": build(project, env)}
        source = project / "routes20.py"
        for name, old, new in EDITS:
            text = source.read_text()
            assert text.count(old) == 1, old
            source.write_text(text.replace(old, new))
            times[f"edit ({name})"] = build(project, env)
        times["unchanged"] = build(project, env)
    return times


def main() -> int:
    result = {"no ccache": run(False)}
    if shutil.which("ccache"):
        result["ccache"] = run(True)
    record = json.dumps({k: {n: round(t, 1) for n, t in v.items()} for k, v in result.items()})
    print(record)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "buildtime.json").write_text(record + "\n")
    for k, v in result.items():
        print(f"covet build, 20 routes, {k}: " + ", ".join(f"{n} {t:.1f} s" for n, t in v.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
