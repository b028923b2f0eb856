"""The client side of `<mountpoint>/.epochfs/plan` and `.epochfs/stats`.

A training job tells the daemon the order in which it will read files in the coming epoch:
one path per line, relative to the mount root, UTF-8, each line ending in "\\n". The mount is
read-only, so the plan is not written to `.epochfs/plan`: the file is opened O_RDONLY and the
plan sent through ioctls (epochfs/_control.py), in chunks the daemon checks as they arrive,
then committed: one commit is one epoch's plan, and successive plans are successive epochs. A
plan that is not committed (the job died, a line was refused) is discarded at close.

    import epochfs
    n = epochfs.publish_plan("/mnt/imagenet", ["train/n01/img1.jpg", "train/n02/img7.jpg"])
    print(epochfs.read_stats("/mnt/imagenet"))

A plan may also name byte ranges of a file, for records inside a large file (HDF5 chunks, LMDB
values, rows of a .npy): an entry `Record(path, offset, length)` (or any 3-tuple) is sent as the
line "path<TAB>offset<TAB>length"; `epochfs.h5py_records` makes them for an h5py dataset.

    epochfs.publish_plan("/mnt/data", [("train.h5", 4096, 196608), ("train.h5", 0, 4096)])

Every path is checked here before the file is opened, so a bad path raises ValueError without
anything reaching the daemon; a half-sent plan is never committed by this module.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Iterable, List, NamedTuple, Union

from . import _control

PathLike = Union[str, "os.PathLike[str]"]


class Record(NamedTuple):
    """`length` bytes of the file at `path` from `offset`: one entry of a plan of records."""
    path: PathLike
    offset: int
    length: int


# What a plan entry may be: a file (all of it) or a record of one.
PlanEntry = Union[PathLike, Record, tuple]

CONTROL_DIR = ".epochfs"
PLAN_NAME = "plan"
STATS_NAME = "stats"

# Plans are sent in chunks of at most this many bytes, one ioctl each (the most a FUSE ioctl
# carries): a plan of a million paths (~50 MB) takes ~3,000 round trips, not a million.
CHUNK_BYTES = _control.PLAN_CHUNK_BYTES


class NotAnEpochfsMount(OSError):
    """`mountpoint` has no `.epochfs/stats`: it is not (or no longer) an epochfs mount."""


def _control_file(mountpoint: PathLike, name: str) -> str:
    return os.path.join(os.fspath(mountpoint), CONTROL_DIR, name)


def is_epochfs_mount(mountpoint: PathLike) -> bool:
    """True if `mountpoint/.epochfs/stats` exists (what identifies an epochfs mount)."""
    try:
        os.stat(_control_file(mountpoint, STATS_NAME))
    except OSError:
        return False
    return True


def _require_mount(mountpoint: PathLike) -> None:
    # ENOENT/ENOTDIR: nothing there, or a plain directory. Any other error (ENOTCONN from a
    # crashed daemon, EACCES) is left as it is: it says more than "not a mount" would.
    try:
        os.stat(_control_file(mountpoint, STATS_NAME))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotAnEpochfsMount(
                errno.ENOENT, f"not an epochfs mount (no {CONTROL_DIR}/{STATS_NAME})",
                os.fspath(mountpoint)) from None
        raise


def read_stats(mountpoint: PathLike) -> dict:
    """The daemon's counters: `mountpoint/.epochfs/stats` parsed as JSON.

    Raises NotAnEpochfsMount if there is no such file; ValueError if it is not JSON."""
    _require_mount(mountpoint)
    path = _control_file(mountpoint, STATS_NAME)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: not valid JSON: {e}") from None


class _PathChecker:
    """Turns what a caller passes as a path into the relative UTF-8 line the daemon expects.

    Absolute paths must lie under the mountpoint, spelled either as given (made absolute) or
    with symlinks resolved; both prefixes are computed once, so no path is stat()ed."""

    def __init__(self, mountpoint: PathLike):
        mp = os.fspath(mountpoint)
        if isinstance(mp, bytes):
            mp = os.fsdecode(mp)
        self.mountpoint = mp
        self._roots = {os.path.abspath(mp), os.path.realpath(mp)}
        # rstrip: "/" as the mountpoint must give the prefix "/", not "//".
        self._prefixes = sorted((r.rstrip("/") + "/" for r in self._roots), key=len,
                                reverse=True)

    def entry(self, item: PlanEntry) -> bytes:
        """The line of a plan entry: a path, or a (path, offset, length) record."""
        if not isinstance(item, tuple):
            return self.line(item)
        if len(item) != 3:
            raise TypeError(f"plan entry {item!r}: a record is (path, offset, length)")
        path, offset, length = item
        for name, v in (("offset", offset), ("length", length)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"plan entry {item!r}: {name} must be an int, "
                                f"not {type(v).__name__}")
        if offset < 0:
            raise ValueError(f"plan entry {item!r}: negative offset")
        if length <= 0:
            raise ValueError(f"plan entry {item!r}: length must be at least 1")
        if offset + length > 2**64 - 1:
            raise ValueError(f"plan entry {item!r}: offset + length beyond 2^64 - 1")
        return self.line(path)[:-1] + f"\t{offset}\t{length}\n".encode()

    def line(self, path: PathLike) -> bytes:
        try:
            p = os.fspath(path)
        except TypeError:
            raise TypeError(f"plan path {path!r}: expected str or os.PathLike, "
                            f"not {type(path).__name__}") from None
        if isinstance(p, bytes):
            try:
                p = p.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"plan path {path!r}: not valid UTF-8") from None
        rel = p
        if p.startswith("/"):
            if (p.rstrip("/") or "/") in self._roots:
                raise ValueError(f"plan path {p!r}: the mount root itself, not a file in it")
            for prefix in self._prefixes:
                if p.startswith(prefix):
                    rel = p[len(prefix):]
                    break
            else:
                raise ValueError(f"plan path {p!r}: absolute but not under the mountpoint "
                                 f"{self.mountpoint!r}")
        self._check_relative(p, rel)
        try:
            return rel.encode("utf-8") + b"\n"
        except UnicodeEncodeError:
            # e.g. a name from os.listdir() that was not UTF-8 on disk (surrogate escapes).
            raise ValueError(f"plan path {p!r}: not encodable as UTF-8, which plans require") \
                from None

    @staticmethod
    def _check_relative(given: str, rel: str) -> None:
        def bad(reason: str) -> ValueError:
            return ValueError(f"plan path {given!r}: {reason}")

        if not rel:
            raise bad("empty")
        if "\0" in rel:
            raise bad("contains a NUL character")
        if "\n" in rel:
            raise bad("contains a newline")
        if "\t" in rel:
            raise bad("contains a TAB, which separates a record's fields in a plan line")
        if rel.startswith("/"):
            raise bad("has an empty component (repeated '/')")
        if rel.startswith("#"):
            # The daemon would take the line for a comment and silently skip it.
            raise bad("starts with '#', which marks a comment line in a plan")
        for part in rel.split("/"):
            if part == "":
                raise bad("has an empty component ('//' or a trailing '/')")
            if part in (".", ".."):
                raise bad(f"has a '{part}' component")


def plan_lines(mountpoint: PathLike, paths: Iterable[PlanEntry]) -> List[bytes]:
    """The plan as it will be sent: `paths` (files, or records: (path, offset, length))
    checked and encoded, joined into chunks of whole lines of at most CHUNK_BYTES (a line
    longer than that is a chunk of its own, which is sent in pieces). Raises ValueError or
    TypeError naming the first bad entry."""
    checker = _PathChecker(mountpoint)
    chunks: List[bytes] = []
    pending: List[bytes] = []
    size = 0
    for path in paths:
        line = checker.entry(path)
        if pending and size + len(line) > CHUNK_BYTES:
            chunks.append(b"".join(pending))
            pending, size = [], 0
        pending.append(line)
        size += len(line)
    if pending:
        chunks.append(b"".join(pending))
    return chunks


def _rejected(plan_path: str, e: _control.ControlError) -> ValueError:
    reason = e.reason or "a malformed line (the daemon's log says which)"
    return ValueError(f"{plan_path}: the epochfs daemon rejected the plan: {reason}")


def publish_plan(mountpoint: PathLike, paths: Iterable[PlanEntry], resume: bool = False) -> int:
    """Publishes `paths`, in order, as the plan of the coming epoch; returns how many.

    resume=True: `paths` are the rest of the epoch the reader is in, from a job restarted
    mid-epoch (PlanSampler.resume): the daemon replaces what was planned from the reader's
    position on with them, instead of queueing them as the next epoch.

    Each path is a str or os.PathLike, relative to `mountpoint` or absolute under it; an entry
    may instead be a record of a file, Record(path, offset, length) or a 3-tuple (the daemon
    fetches and caches such a file in blocks of about a record: docs/policies.md). All are
    checked before the plan file is opened (ValueError naming the path and the reason), then
    sent in chunks to `mountpoint/.epochfs/plan`, opened read-only, and committed: the daemon
    adopts the plan at the commit. Paths the daemon does not know are counted and skipped by
    it, not errors.

    Raises NotAnEpochfsMount if `mountpoint` is not an epochfs mount; ValueError naming the
    plan file and the daemon's reason (e.g. the line and what is wrong with it) if the daemon
    rejects the plan (EINVAL); OSError for any other failure.
    """
    _require_mount(mountpoint)
    chunks = plan_lines(mountpoint, paths)
    count = sum(chunk.count(b"\n") for chunk in chunks)
    plan_path = _control_file(mountpoint, PLAN_NAME)
    try:
        fd = os.open(plan_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, "this epochfs daemon does not accept plans "
                      f"(no {CONTROL_DIR}/{PLAN_NAME}; an older version?)", plan_path) from None
    try:
        flags = _control.PLAN_RESUMES if resume else 0
        for chunk in chunks:
            _control.plan_append(fd, chunk, plan_path, flags)
        if resume and not chunks:
            _control.plan_append(fd, b"", plan_path, flags)  # an empty rest still resumes
        _control.plan_commit(fd, plan_path)
    except _control.ControlError as e:
        if e.errno == errno.EINVAL:
            raise _rejected(plan_path, e) from e
        raise
    finally:
        os.close(fd)  # without a commit, the daemon discards what was sent
    return count
