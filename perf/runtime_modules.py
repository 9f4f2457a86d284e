"""Does compiling each runtime module with mypyc pay? A leave-one-out measurement.

Builds copies of the runtime with every candidate module compiled, then with
each one left out, and times the whole in-process request path
(`perf/micro.py`, stage ``full``) for each copy. A module earns its place in
setup.py's COMPILED_RUNTIME when leaving it out is measurably slower.

    python perf/runtime_modules.py            # about 15 minutes on two cores
    python perf/runtime_modules.py --leave-out routeplan   # the wheel's list, with and without one module
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = Path(os.environ.get("COVET_PYTHON", ROOT / ".venv" / "bin" / "python"))
CANDIDATES = ["pathtrie", "dispatch", "encode", "state", "exchange", "h1_response", "asyncio_http1", "uring_http1",
              "formdata", "clock", "resume", "connection", "config"]
ENDPOINTS = ["plaintext", "json", "users", "items"]

def variant(work: Path, name: str, modules: list[str]) -> dict[str, float]:
    """Build a copy of the tree with ``modules`` compiled (by setup.py itself, as the wheel is) and time it."""
    tree = work / name
    shutil.copytree(ROOT / "covet", tree / "covet", ignore=shutil.ignore_patterns("__pycache__"))
    for so in (tree / "covet" / "runtime").glob("*.so"):
        so.unlink()
    shutil.copytree(HERE, tree / "perf", ignore=shutil.ignore_patterns(".venv-*", ".build-*", "results", "__pycache__"))
    shutil.copytree(ROOT / "native", tree / "native")
    for name_ in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name_, tree / name_)
    subprocess.run([str(PY), "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, check=True, capture_output=True,
                   env=dict(os.environ, COVET_RUNTIME_MODULES=",".join(modules)))
    out = tree / "micro.json"
    subprocess.run([str(PY), str(tree / "perf" / "micro.py"), "--fast", "-q", "-o", str(out)], check=True,
                   capture_output=True, env=dict(os.environ, COVET_MICRO_STAGES="full"))
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(out))
    return {b.get_name().split("/")[0]: round(b.median() * 1e9) for b in suite.get_benchmarks()}


def wheel_modules() -> list[str]:
    """setup.py's COMPILED_RUNTIME: what the wheel compiles today."""
    m = re.search(r"^COMPILED_RUNTIME = (\[.*?\])", (ROOT / "setup.py").read_text(), re.M | re.S)
    assert m is not None, "setup.py: no COMPILED_RUNTIME"
    return list(ast.literal_eval(m.group(1)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leave-out", default="",
                    help="comma-separated modules: time the wheel's list with each left out, instead of the "
                         "historical candidates")
    args = ap.parse_args()
    if args.leave_out:
        wheel = wheel_modules()
        plan = [("wheel", wheel)] + [(f"no-{m}", [c for c in wheel if c != m]) for m in args.leave_out.split(",")]
        plan.append(("wheel (again)", wheel))
    else:
        plan = [("pure", []), ("all", CANDIDATES)] + [(f"no-{m}", [c for c in CANDIDATES if c != m])
                                                       for m in CANDIDATES]
        plan.append(("all (again)", CANDIDATES))  # the spread between the two runs of "all" is the noise
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, modules in plan:
            results[name] = variant(Path(tmp), name.replace(" ", "_").replace("(", "").replace(")", ""), modules)
            print(f"{name:16}" + "".join(f"{results[name].get(e, 0):>8} ns" for e in ENDPOINTS), file=sys.stderr)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "runtime-modules.json").write_text(json.dumps(
        {"what": "perf/micro.py full stage, ns per request, app interpreted; leave-one-out over compiled runtime "
                 "modules", "results": results}, indent=1) + "\n")
    print("| Variant | " + " | ".join(ENDPOINTS) + " |")
    print("|---" * (len(ENDPOINTS) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r.get(e, 0)} ns" for e in ENDPOINTS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
