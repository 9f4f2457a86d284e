"""Run a child with io_uring refused by the kernel, as Docker's default seccomp profile does.

``deny_io_uring`` is a ``preexec_fn``: in the forked child it installs a
seccomp filter answering io_uring_setup with ENOSYS (x86_64 and aarch64),
and the filter survives the exec of the server.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

__all__ = ["deny_io_uring", "deny_io_uring_eventfd", "SUPPORTED"]

_IO_URING_SETUP = {"x86_64": 425, "aarch64": 425}.get(platform.machine())
_IO_URING_REGISTER = 427
_IORING_REGISTER_EVENTFD = 4
_ARG1 = 24  # offsetof(struct seccomp_data, args[1]), its low 32 bits on a little-endian machine
SUPPORTED = _IO_URING_SETUP is not None

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
# BPF: ld [nr]; jeq io_uring_setup ? errno : allow
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def deny_io_uring() -> None:
    """io_uring_setup fails with ENOSYS: the kernel offers no io_uring at all."""
    assert _IO_URING_SETUP is not None
    _install(b"".join([
        _insn(_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _insn(_BPF_JEQ_K, 0, 1, _IO_URING_SETUP),
        _insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.ENOSYS),
        _insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
    ]))


def deny_io_uring_eventfd() -> None:
    """Only registering an eventfd fails (EPERM): the probe passes, the server's own ring set-up does not."""
    _install(b"".join([
        _insn(_BPF_LD_W_ABS, 0, 0, 0),
        _insn(_BPF_JEQ_K, 0, 3, _IO_URING_REGISTER),
        _insn(_BPF_LD_W_ABS, 0, 0, _ARG1),
        _insn(_BPF_JEQ_K, 0, 1, _IORING_REGISTER_EVENTFD),
        _insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.EPERM),
        _insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
    ]))


def _install(prog: bytes) -> None:
    filt = ctypes.create_string_buffer(prog)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.cast(filt, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS)")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(SECCOMP)")
