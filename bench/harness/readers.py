"""One epoch of reads: N threads over a shuffled list of files, every byte verified.

A read is timed from open() to close(): for a small file that is the whole file (one latency
sample per file); for a large file each read() of CHUNK bytes is one sample (the first one
includes the open), since what feeds a GPU from a shard is its stream of chunks. The checksum
is computed outside the timed calls but inside the epoch's wall time (all systems pay it
alike).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from dataclasses import dataclass, field

CHUNK = 1 << 20
LARGE = 8 << 20  # files above this are read (and timed) in CHUNK reads


class Checker:
    """Computes a file's checksum incrementally; `algo` is "sha256" or "crc32"."""

    def __init__(self, algo: str):
        if algo not in ("sha256", "crc32"):
            raise ValueError(algo)
        self.algo = algo

    def new(self):
        return hashlib.sha256() if self.algo == "sha256" else _Crc()

    def expected(self, f) -> str:
        return f.sha256 if self.algo == "sha256" else f"{f.crc32:08x}"


class _Crc:
    def __init__(self):
        self.v = 0

    def update(self, b) -> None:
        self.v = zlib.crc32(b, self.v)

    def hexdigest(self) -> str:
        return f"{self.v:08x}"


@dataclass
class EpochResult:
    wall_s: float = 0.0
    files: int = 0
    bytes: int = 0
    verified_bytes: int = 0
    mismatches: list = field(default_factory=list)  # (rel, reason), the first few
    mismatch_count: int = 0
    latencies: list = field(default_factory=list)   # seconds

    def add_bad(self, rel: str, why: str) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < 10:
            self.mismatches.append((rel, why))


def read_one(path: str, f, checker: Checker, lat: list,
             drop_cache: bool = False) -> tuple[int, str | None]:
    """Reads `path` (a manifest File `f`) fully; appends latency samples to `lat`. Returns
    (bytes read, None) if content matched, else (bytes, reason). `drop_cache`: then drops the
    file's pages from the kernel's page cache (POSIX_FADV_DONTNEED), so that its next read
    reaches the filesystem again."""
    h = checker.new()
    n = 0
    try:
        if f.size > LARGE:
            t0 = time.perf_counter()
            fd = os.open(path, os.O_RDONLY)
            try:
                while True:
                    b = os.read(fd, CHUNK)
                    t1 = time.perf_counter()
                    lat.append(t1 - t0)
                    if not b:
                        break
                    n += len(b)
                    h.update(b)
                    t0 = time.perf_counter()
                if drop_cache:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        else:
            t0 = time.perf_counter()
            with open(path, "rb", buffering=0) as fh:
                b = fh.read()
                if drop_cache:
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            lat.append(time.perf_counter() - t0)
            n = len(b)
            h.update(b)
    except OSError as e:
        return n, f"{type(e).__name__}: {e}"
    if n != f.size:
        return n, f"read {n} bytes, expected {f.size}"
    if h.hexdigest() != checker.expected(f):
        return n, f"{checker.algo} differs"
    return n, None


def run_workers(order: list, workers: int, read) -> EpochResult:
    """Runs `workers` threads that take the next manifest File of `order` from a shared cursor
    and call read(f, lat) -> (bytes read, None if right else the reason), which appends its
    latency samples to `lat`; returns the epoch's result, wall time included."""
    res = EpochResult()
    lock = threading.Lock()
    cursor = [0]

    def worker():
        lat: list = []
        files = nbytes = good = 0
        bad = []
        while True:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(order):
                break
            f = order[i]
            n, why = read(f, lat)
            files += 1
            nbytes += n
            if why is None:
                good += n
            else:
                bad.append((f.rel, why))
        with lock:
            res.latencies.extend(lat)
            res.files += files
            res.bytes += nbytes
            res.verified_bytes += good
            for rel, why in bad:
                res.add_bad(rel, why)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res.wall_s = time.perf_counter() - t0
    return res


def run_epoch(root: str, order: list, threads: int, checker: Checker,
              drop_cache: bool = False, compute_s: float = 0.0) -> EpochResult:
    """Reads every manifest File in `order` under `root` with `threads` threads that take the
    next file from a shared cursor (`drop_cache`: see read_one). `compute_s`: each thread
    then spends that long on the sample (a sleep: the training step's share per sample), so
    the loader consumes at most threads / compute_s files per second."""
    def read(f, lat):
        got = read_one(os.path.join(root, f.rel), f, checker, lat, drop_cache)
        if compute_s > 0:
            time.sleep(compute_s)
        return got
    return run_workers(order, threads, read)


def percentile(xs: list, p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]
