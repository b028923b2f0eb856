#!/usr/bin/env python3
"""The daemon's memory against the dataset's size (issue 5: "RSS reported for 20k and 200k
files").

For each --files N: generates N small files (class folders of 1,000) under WORK once, mounts
epochfs over that directory with an immutable namespace snapshot (what an s3:// source gets by
default: the whole tree is listed at mount and kept) and a cache that holds it all, walks the
tree, reads every file twice with --threads threads (cold, then warm), checks every byte, and
records the daemon's VmRSS after the mount, the walk and each pass, and VmHWM (peak). Prints
a markdown table and writes WORK/rss.json. Needs root and /dev/fuse.

  bench/rss_scale.py [--files 20000,200000] [--file-kb 4] [--work /var/tmp/epochfs-rss]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness"))
from dataset import many_files  # noqa: E402
from systems import proc_mem  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def content(i: int, size: int) -> bytes:
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def generate(src: str, n: int, size: int) -> list[str]:
    rels = [f"c{i // 1000:04d}/f{i:07d}.bin" for i in range(n)]
    many_files(src, rels, lambda i: content(i, size), f"{n} {size}")
    return rels


def read_all(mnt: str, rels: list[str], size: int, threads: int) -> int:
    """Reads every file; returns how many had wrong bytes."""
    def one(i: int) -> bool:
        with open(os.path.join(mnt, rels[i]), "rb") as f:
            return f.read() != content(i, size)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, range(len(rels)), chunksize=256))


def mib(b: int | None) -> float | None:
    return None if b is None else round(b / (1 << 20), 1)


def run_one(args, n: int) -> dict:
    src = os.path.join(args.work, f"src-{n}")
    mnt = os.path.join(args.work, "mnt")
    cache = os.path.join(args.work, "cache")
    print(f"{n} files: generating (once) in {src}", file=sys.stderr)
    rels = generate(src, n, args.file_kb * 1024)
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    size = max(64 << 20, n * (args.file_kb + 8) * 1024 * 2)
    subprocess.run([args.epochfs, "mount", src, mnt, "--cache-dir", cache, "--cache-size",
                    str(size), "--min-free", "0", "--metadata-ttl", "immutable"], check=True)
    row = {"files": n, "file_kb": args.file_kb}
    try:
        with open(os.path.join(mnt, ".epochfs", "stats")) as f:
            pid = json.load(f)["pid"]
        row["rss_mounted_mib"] = mib(proc_mem(pid).get("rss"))
        t0 = time.monotonic()
        walked = 0
        for _, dirs, files in os.walk(mnt):
            dirs[:] = [d for d in dirs if d != ".epochfs"]
            walked += len(files)
        row["walk_s"] = round(time.monotonic() - t0, 2)
        row["rss_walked_mib"] = mib(proc_mem(pid).get("rss"))
        bad = 0
        for p in ("cold", "warm"):
            t0 = time.monotonic()
            bad += read_all(mnt, rels, args.file_kb * 1024, args.threads)
            row[f"{p}_s"] = round(time.monotonic() - t0, 2)
            row[f"rss_{p}_mib"] = mib(proc_mem(pid).get("rss"))
        row["hwm_mib"] = mib(proc_mem(pid).get("hwm"))
        row["walked_files"] = walked
        row["wrong_files"] = bad
        with open(os.path.join(mnt, ".epochfs", "stats")) as f:
            st = json.load(f)
        row["cache_blocks"] = st["cache"]["blocks"]
        row["discovered_files"] = st["prefetch"]["discovered_files"]
    finally:
        subprocess.run([args.epochfs, "umount", mnt], check=False)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", default="20000,200000")
    ap.add_argument("--file-kb", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--work", default="/var/tmp/epochfs-rss")
    ap.add_argument("--epochfs", default=os.path.join(ROOT, "build-release", "cli", "epochfs"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = [run_one(args, int(n)) for n in args.files.split(",")]
    with open(os.path.join(args.work, "rss.json"), "w") as f:
        json.dump(rows, f, indent=1)
    cols = ["files", "rss_mounted_mib", "rss_walked_mib", "rss_cold_mib", "rss_warm_mib",
            "hwm_mib", "walk_s", "cold_s", "warm_s", "cache_blocks", "discovered_files",
            "wrong_files"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    return 1 if any(r["wrong_files"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
