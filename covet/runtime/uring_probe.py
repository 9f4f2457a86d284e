"""What io_uring offers on this machine, asked of the kernel once at start-up.

The io_uring core needs a ring set-up the kernel accepts, best first:
single issuer with deferred task running, then cooperative task running,
then plain. It also needs the operations it submits, provided-buffer rings
(so idle connections hold no buffer) and multishot receive (Linux 6.0). ``probe`` says which, or why not, in words a
user can act on.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import sys
from typing import final

__all__ = ["UringSupport", "probe"]

_MULTISHOT_RECV = (6, 0)


@final
@dataclasses.dataclass(frozen=True)
class UringSupport:
    """``usable`` with the ring set-up ``mode``, or the ``reason`` it is not."""

    usable: bool
    mode: str
    reason: str = ""


def _kernel_version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def probe() -> UringSupport:
    """Ask the kernel; OSError only when the probe itself could not run (for example, out of file descriptors)."""
    if sys.platform != "linux":
        return UringSupport(False, "none", "io_uring is Linux-only")
    from covet._native import uring_probe

    mode, setup_errno, _features, missing, buf_ring_errno = uring_probe()
    release = platform.release()
    if mode == "none":
        return UringSupport(False, mode, (
            f"the kernel refused every io_uring set-up: {os.strerror(setup_errno)} (Linux {release}; "
            "io_uring may be turned off by /proc/sys/kernel/io_uring_disabled or a seccomp policy)"))
    if missing:
        return UringSupport(False, mode, f"Linux {release} lacks io_uring operations: {', '.join(missing)}")
    if buf_ring_errno:
        return UringSupport(False, mode, (
            f"Linux {release} cannot register provided-buffer rings: {os.strerror(buf_ring_errno)} (needs 5.19)"))
    if _kernel_version() < _MULTISHOT_RECV:
        return UringSupport(False, mode, f"Linux {release} has no multishot receive (needs 6.0)")
    return UringSupport(True, mode)
