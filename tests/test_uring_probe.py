"""The io_uring capability probe: real system calls, no leaked descriptors, kernel errors as Python exceptions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from covet.runtime.uring_probe import UringSupport, probe

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="io_uring is Linux-only")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_probe_reports_a_mode_or_a_reason() -> None:
    support = probe()
    if support.usable:
        assert support.mode in ("single-issuer+defer-taskrun", "coop-taskrun", "plain")
        assert support.reason == ""
    else:
        assert support.reason, support


def test_these_machines_support_the_best_mode() -> None:
    # The brief promises io_uring on Linux 6.x here; if this fails, the machine changed, not the code.
    assert probe() == UringSupport(True, "single-issuer+defer-taskrun")


def test_probe_releases_every_ring_and_mapping() -> None:
    before = _open_fds()
    for _ in range(200):
        probe()
    assert _open_fds() == before


def test_out_of_descriptors_is_oserror_emfile() -> None:
    code = (
        "import errno, os, resource\n"
        "import covet._native\n"
        "from covet.runtime.uring_probe import probe\n"
        "n = len(os.listdir('/proc/self/fd'))\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (n - 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "try:\n"
        "    probe()\n"
        "except OSError as exc:\n"
        "    print('OSError', errno.errorcode[exc.errno], exc.filename)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OSError EMFILE io_uring_setup"
