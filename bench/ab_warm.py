#!/usr/bin/env python3
"""Warm reads through two (or more) epochfs binaries, side by side: did a change slow the hit
path? As root, with /dev/fuse:

  bench/ab_warm.py OLD_BIN NEW_BIN [--rounds 3] [--files 2000] [--threads 8]

Uses the harness's small dataset (--files files of ~110 KB, 0.8-1.2x, in class folders;
generated once under --work, bench/harness/dataset.py). Per round and per binary: mounts it
with an immutable namespace snapshot (as an s3:// source gets) and a cache that holds it all,
reads everything once (cold), then three times with --threads readers that drop each file's
page cache after reading it (POSIX_FADV_DONTNEED), so that every read reaches the daemon.
Prints warm files/s and the daemon's CPU time per warm file for each round; the binaries
alternate, so a machine's load drifts over both alike. Every file's crc32 is checked against
the dataset's manifest (bench/harness/readers.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness"))
import dataset as datasetmod  # noqa: E402
from readers import Checker, run_epoch  # noqa: E402
from systems import proc_cpu_s  # noqa: E402

WARM_PASSES = 3


def read_pass(mnt: str, ds: datasetmod.Dataset, threads: int) -> float:
    res = run_epoch(mnt, ds.files, threads, Checker("crc32"), drop_cache=True)
    if res.mismatch_count:
        raise SystemExit(f"ab_warm: {res.mismatch_count} files read wrong through {mnt}, "
                         f"e.g. {res.mismatches[0]}")
    return res.wall_s


def measure(binary: str, ds: datasetmod.Dataset, work: str, threads: int) -> tuple[float, float]:
    """(warm files/s, daemon CPU us per warm file) of one mount of `binary`."""
    mnt = os.path.join(work, "mnt")
    cache = os.path.join(work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([binary, "mount", ds.root, mnt, "--cache-dir", cache, "--cache-size", "2GiB",
                    "--min-free", "0", "--metadata-ttl", "immutable"],
                   check=True, capture_output=True)
    try:
        with open(os.path.join(mnt, ".epochfs", "stats")) as f:
            pid = json.load(f)["pid"]
        read_pass(mnt, ds, threads)  # cold
        time.sleep(1)  # prefetchers settle
        cpu0 = proc_cpu_s(pid)
        wall = sum(read_pass(mnt, ds, threads) for _ in range(WARM_PASSES))
        cpu = proc_cpu_s(pid) - cpu0
        files = WARM_PASSES * len(ds.files)
        return files / wall, cpu * 1e6 / files
    finally:
        subprocess.run([binary, "umount", mnt], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--work", default="/var/tmp/epochfs-ab")
    args = ap.parse_args()
    ds = datasetmod.generate(os.path.join(args.work, "small"), "small", args.files, 110_000,
                             log=lambda m: print(m, file=sys.stderr))
    results: dict[str, list[tuple[float, float]]] = {b: [] for b in args.binaries}
    for _ in range(args.rounds):
        for binary in args.binaries:
            results[binary].append(measure(binary, ds, args.work, args.threads))
    for binary, rows in results.items():
        print(f"{binary}: warm files/s {[round(r[0]) for r in rows]}, "
              f"daemon CPU us/file {[round(r[1]) for r in rows]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
