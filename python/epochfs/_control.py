"""The ioctls of an epochfs mount's control files: the client half of fs/ControlIoctl.h.

The mount is read-only to the kernel, so `.epochfs/plan` and `.epochfs/refresh` are opened
O_RDONLY and driven with ioctls. FUSE passes only "restricted" ioctls on regular files: the
kernel copies exactly the struct size that the command number encodes, so each argument is a
fixed-size struct (packed here with `struct`, no padding) and a plan goes in chunks of at most
PLAN_CHUNK_BYTES. The numbers mirror fs/ControlIoctl.h; a test compares them with the header.

Python's fcntl.ioctl() copies an immutable (bytes) argument into a buffer of 1024 bytes at
most, so every argument here is a bytearray, which it passes as it is.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import NamedTuple

PLAN_CHUNK_BYTES = 16368
CONTROL_ERROR_BYTES = 1024

_PLAN_CHUNK = struct.Struct(f"=II{PLAN_CHUNK_BYTES}s")  # length, flags, data
PLAN_RESUMES = 1  # PlanChunk.flags: the plan is the rest of the reader's current epoch
_PLAN_RESULT = struct.Struct("=QQQQII")  # paths, unknown, files, blocks, ignored, reserved

IOC_PLAN_APPEND = 0x7FF8EF01  # _IOW(0xEF, 1, PlanChunk)
IOC_PLAN_COMMIT = 0x8028EF02  # _IOR(0xEF, 2, PlanResult)
IOC_PLAN_ABORT = 0x0000EF03   # _IO(0xEF, 3)
IOC_LAST_ERROR = 0x8400EF04   # _IOR(0xEF, 4, ControlError)
IOC_REFRESH = 0x0000EF05      # _IO(0xEF, 5)

# The seam the tests replace with a fake daemon.
_ioctl = fcntl.ioctl


class PlanResult(NamedTuple):
    """What the daemon did with a committed plan."""
    paths: int          # paths in the plan
    unknown_paths: int  # skipped: not found at the mount, or a directory
    files: int          # files handed to the cache
    blocks: int         # their blocks the policy planned (0 if it ignores plans)
    ignored: bool       # the policy does not use plans (lru, fixed)


class ControlError(OSError):
    """A control ioctl failed; `reason` is the daemon's own explanation ("" if it gave none)."""

    def __init__(self, err: int, reason: str, filename: str):
        super().__init__(err, reason or os.strerror(err), filename)
        self.reason = reason


def _last_error(fd: int) -> str:
    buf = bytearray(CONTROL_ERROR_BYTES)
    try:
        _ioctl(fd, IOC_LAST_ERROR, buf)
    except OSError:
        return ""
    return bytes(buf).split(b"\0", 1)[0].decode("utf-8", "replace")


def _call(fd: int, request: int, buf, filename: str) -> None:
    try:
        if buf is None:
            _ioctl(fd, request)
        else:
            _ioctl(fd, request, buf)
    except OSError as e:
        if e.errno == errno.ENOTTY:
            raise ControlError(errno.ENOTTY, "this epochfs daemon does not take control "
                               "ioctls (a version older than this client?)", filename) from None
        raise ControlError(e.errno, _last_error(fd), filename) from None


def plan_append(fd: int, data: bytes, filename: str, flags: int = 0) -> None:
    """Sends `data` (any size) to the plan of `fd`, in chunks of PLAN_CHUNK_BYTES, each with
    `flags` (one empty chunk if `data` is empty and `flags` are set)."""
    view = memoryview(data)
    starts = range(0, len(view), PLAN_CHUNK_BYTES) if len(view) or not flags else [0]
    for start in starts:
        piece = view[start:start + PLAN_CHUNK_BYTES]
        _call(fd, IOC_PLAN_APPEND,
              bytearray(_PLAN_CHUNK.pack(len(piece), flags, bytes(piece))), filename)


def plan_commit(fd: int, filename: str) -> PlanResult:
    buf = bytearray(_PLAN_RESULT.size)
    _call(fd, IOC_PLAN_COMMIT, buf, filename)
    paths, unknown, files, blocks, ignored, _ = _PLAN_RESULT.unpack(buf)
    return PlanResult(paths, unknown, files, blocks, bool(ignored))


def plan_abort(fd: int, filename: str) -> None:
    _call(fd, IOC_PLAN_ABORT, None, filename)


def refresh(fd: int, filename: str) -> None:
    _call(fd, IOC_REFRESH, None, filename)
