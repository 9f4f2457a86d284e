"""A warm start for the mypy cache of a build that has none.

Most of a first build's type-checking is spent on what every build shares:
the standard library, pydantic and covet. A successful build leaves its
cache as a seed, once per mypy and Python version, under ``COVET_CACHE_DIR``
(default ``$XDG_CACHE_HOME/covet`` or ``~/.cache/covet``; ``off`` disables
it); a later build with no cache of its own starts from a copy. Nothing in
it is trusted: mypy checks every entry against its source's path, size and
hash and against the options, and checks again what does not match. A first
build of a small app took 27 s here, and 12-14 s from a seed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from covet.manifest import python_tag

__all__ = ["SEEDED_FROM", "keep_seed", "seed_dir", "warm"]

SEEDED_FROM = "covet-seeded-from"


def seed_dir(mypy_version: str) -> Path | None:
    """Where the seed of this mypy and Python lives; None when seeding is off."""
    setting = os.environ.get("COVET_CACHE_DIR", "")
    if setting == "off":
        return None
    if setting:
        root = Path(setting)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "covet"
    return root / f"mypy-seed-{mypy_version}-{python_tag()}"


def warm(cache_dir: Path, mypy_version: str) -> None:
    """Copy the seed into ``cache_dir`` when that does not exist yet (a first build)."""
    seed = seed_dir(mypy_version)
    if cache_dir.exists() or seed is None or not seed.is_dir():
        return
    try:
        shutil.copytree(seed, cache_dir)
    except (OSError, shutil.Error):  # a seed being replaced, a full disk: the build starts cold instead
        shutil.rmtree(cache_dir, ignore_errors=True)


def keep_seed(cache_dir: Path, mypy_version: str) -> None:
    """After a successful build, keep its cache as the seed when there is none yet. Written beside it and renamed
    into place, so a build never reads half a seed, and of two builds finishing together the first one wins."""
    seed = seed_dir(mypy_version)
    if seed is None or seed.exists() or not cache_dir.is_dir():
        return
    part = seed.with_name(f".{seed.name}.{os.getpid()}")
    try:
        seed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(cache_dir, part)
        (part / SEEDED_FROM).write_text(f"{cache_dir}\n")  # what a build's cache that started from it holds too
        os.rename(part, seed)
    except (OSError, shutil.Error):
        shutil.rmtree(part, ignore_errors=True)
