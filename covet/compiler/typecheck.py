"""Type-checks the handler modules and the glue with mypy, strict, and maps errors to routes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

__all__ = ["Diagnostic", "typecheck", "STRICT_FLAGS"]

# The preset for handler modules: no untyped definitions, no implicit Any.
STRICT_FLAGS = ["--strict", "--show-error-codes", "--no-error-summary", "--no-color-output", "--hide-error-context"]
_LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>error|note|warning): (?P<msg>.*)$")


@dataclasses.dataclass
class Diagnostic:
    path: str
    line: int
    severity: str
    message: str
    route: str = ""  # "[GET /x -> app.py:handler]" when the line is inside a handler
    internal: bool = False  # in generated glue: CovetPy's fault, not the user's

    def text(self) -> str:
        where = f"{self.path}:{self.line}: {self.severity}: {self.message}"
        return f"{where}  {self.route}" if self.route else where


def typecheck(files: list[Path], cache_dir: Path, routes_by_file: dict[str, list[tuple[int, int, str]]],
              glue_file: Path | None) -> list[Diagnostic]:
    """Run mypy on ``files``; each diagnostic names the route whose handler holds its line."""
    from mypy import api

    stdout, stderr, _ = api.run([*STRICT_FLAGS, "--cache-dir", str(cache_dir), *[str(f) for f in files]])
    out: list[Diagnostic] = []
    for raw in (stdout + stderr).splitlines():
        m = _LINE.match(raw)
        if m is None:
            if raw.strip():
                out.append(Diagnostic("", 0, "error", raw.strip()))
            continue
        path, line = m.group("path"), int(m.group("line"))
        diag = Diagnostic(path, line, m.group("sev"), m.group("msg"))
        resolved = str(Path(path).resolve())
        for start, end, label in routes_by_file.get(resolved, []):
            if start <= line <= end:
                diag.route = label
                break
        if glue_file is not None and resolved == str(glue_file.resolve()):
            diag.internal = True
        out.append(diag)
    return out
