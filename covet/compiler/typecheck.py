"""Type-checks the handler modules and the glue with mypy, strict, and maps errors to routes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Final

__all__ = ["Diagnostic", "typecheck", "STRICT_FLAGS", "ORIGIN_MARK", "UNTYPED_OK", "write_config"]

ORIGIN_MARK: Final = "# covet calls "  # ends a glue line that calls a handler or a provider (see gluegen)

# The preset for handler modules: no untyped definitions, no implicit Any.
STRICT_FLAGS = ["--strict", "--show-error-codes", "--no-error-summary", "--no-color-output", "--hide-error-context"]
# What --strict demands of handler modules that is about annotations only, not about types that disagree: relaxed
# for them (a FastAPI app annotates little), as mypy's defaults do. An unannotated function is then not checked and
# runs as Any; an annotated one is checked as strictly as before. The glue is always checked strict.
UNTYPED_OK: Final = {
    "disallow_untyped_defs": False,
    "disallow_incomplete_defs": False,
    "disallow_untyped_calls": False,
    "disallow_untyped_decorators": False,
    "disallow_any_generics": False,
    "disallow_subclassing_any": False,
    "check_untyped_defs": False,
    "warn_return_any": False,
    "implicit_reexport": True,
    # A "# type: ignore[no-untyped-def]" the project wrote for its own strict mypy is unused under the relaxed
    # options, which is no reason to leave the module interpreted.
    "warn_unused_ignores": False,
    # "Need type annotation for 'x'" (``x = {}``): the local is then Any. "Cannot assign to a method": FastAPI's
    # documented ``app.openapi = custom_openapi``, which works (the application is no compiled class).
    "disable_error_code": "var-annotated, method-assign",
}
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


def write_config(path: Path, untyped_ok: list[str], interpreted: list[str], opaque: tuple[str, ...] = ()) -> Path:
    """Write the mypy configuration of a build to ``path``: strict, but ``UNTYPED_OK`` for the modules
    ``untyped_ok`` names, no errors reported in ``interpreted`` ones (read for their types, not compiled), and
    ``opaque`` ones not read at all (Any: protobuf modules without stubs). mypy and mypyc both read it, in place of
    the project's own."""
    # A library without types (no stubs, no py.typed: googleapis-common-protos, protobuf without types-protobuf) is
    # Any to the build, as to mypy's users who say so: the app imported it already, so it is not missing.
    lines = ["# Written by covet build: mypy's options for this build.", "[mypy]", "strict = True",
             "ignore_missing_imports = True", ""]
    if opaque:  # (a module's options are one section's: it is in no other)
        lines += [f"[mypy-{','.join(sorted(opaque))}]", "follow_imports = skip", "ignore_errors = True", ""]
    untyped_ok = sorted(set(untyped_ok) - set(interpreted) - set(opaque))
    if untyped_ok:
        lines += [f"[mypy-{','.join(untyped_ok)}]", *(f"{k} = {v}" for k, v in UNTYPED_OK.items()), ""]
    interpreted = sorted(set(interpreted) - set(opaque))
    if interpreted:
        lines += [f"[mypy-{','.join(interpreted)}]", "ignore_errors = True", ""]
    text = "\n".join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def typecheck(files: list[Path], cache_dir: Path, routes_by_file: dict[str, list[tuple[int, int, str]]],
              glue_file: Path | None, origins: dict[str, tuple[Path, int]] | None = None,
              config: Path | None = None, shadows: dict[Path, Path] | None = None) -> list[Diagnostic]:
    """Run mypy on ``files`` (``shadows``: a file's text read in its stead); each diagnostic names the route whose
    handler holds its line.

    An error in the glue is CovetPy's (``internal``), except on a line that calls a handler or a provider: there
    it is the user's types that disagree (a provider's return type against the parameter it fills), and the
    diagnostic points at the function called, from ``origins``.
    """
    from mypy import api

    options = [*STRICT_FLAGS, "--cache-dir", str(cache_dir), *(["--config-file", str(config)] if config else [])]
    for original, shadow in sorted((shadows or {}).items()):  # read in the file's stead, its errors named as its
        options += ["--shadow-file", str(original), str(shadow)]
    stdout, stderr, _ = api.run([*options, *[str(f) for f in files]])
    out: list[Diagnostic] = []
    glue_lines: list[str] | None = None
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
            if glue_lines is None:
                glue_lines = glue_file.read_text().splitlines()
            called = _called(glue_lines, line)
            where = (origins or {}).get(called) if called else None
            if where is None or called is None:
                diag.internal = True
            else:
                path_ = where[0]
                diag.path = str(path_.relative_to(Path.cwd()) if path_.is_relative_to(Path.cwd()) else path_)
                diag.line = where[1]
                diag.message = (f"{diag.message} (where CovetPy calls {called.split(':')[1]} with its "
                                f"dependencies' results: a provider's declared return type does not fit the "
                                f"parameter it fills)")
                for start, end, label in routes_by_file.get(str(where[0].resolve()), []):
                    if start <= where[1] <= end:
                        diag.route = label
                        break
        out.append(diag)
    return out


def _called(lines: list[str], line: int) -> str | None:
    """The ``module:function`` a glue line says it calls, if it says."""
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    at = text.rfind(ORIGIN_MARK)
    return text[at + len(ORIGIN_MARK):].strip() if at >= 0 else None
