#!/usr/bin/env python3
"""Warm reads through two (or more) epochfs binaries, side by side: did a change slow the hit
path? As root, with /dev/fuse:

  bench/ab_warm.py OLD_BIN NEW_BIN [--rounds 3] [--files 2000] [--threads 8]

Generates --files files of 90-130 KB in folders of 200 under --work once, then per round and
per binary: mounts the directory with an immutable namespace snapshot (as an s3:// source
gets) and a cache that holds it all, reads everything once (cold), then three times with
--threads readers, each dropping a file's page cache after reading it (posix_fadvise
DONTNEED) so that every read reaches the daemon. Prints warm files/s and the daemon's CPU
time per warm file for each round; the binaries alternate, so a machine's load drifts over
both alike. Every byte is compared with the source.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import threading
import time


def generate(src: str, n: int) -> list[str]:
    marker = os.path.join(src, ".complete")
    rels = [f"c{i // 200:03d}/f{i:05d}.bin" for i in range(n)]
    if os.path.exists(marker) and open(marker).read() == str(n):
        return rels
    shutil.rmtree(src, ignore_errors=True)
    for i, rel in enumerate(rels):
        os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(src, rel), "wb") as f:
            f.write(os.urandom(90_000 + (i * 37) % 40_000))
    with open(marker, "w") as f:
        f.write(str(n))
    return rels


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_pass(mnt: str, src: str, rels: list[str], threads: int) -> float:
    cursor, lock, bad = [0], threading.Lock(), []

    def reader() -> None:
        while True:
            with lock:
                if cursor[0] >= len(rels):
                    return
                rel = rels[cursor[0]]
                cursor[0] += 1
            fd = os.open(os.path.join(mnt, rel), os.O_RDONLY)
            try:
                got = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            with open(os.path.join(src, rel), "rb") as f:
                if got != f.read():
                    bad.append(rel)

    workers = [threading.Thread(target=reader) for _ in range(threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if bad:
        raise SystemExit(f"ab_warm: {len(bad)} files read wrong through {mnt}, e.g. {bad[0]}")
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--work", default="/var/tmp/epochfs-ab")
    args = ap.parse_args()
    src = os.path.join(args.work, "src")
    mnt = os.path.join(args.work, "mnt")
    cache = os.path.join(args.work, "cache")
    rels = generate(src, args.files)
    os.makedirs(mnt, exist_ok=True)
    results: dict[str, list[tuple[float, float]]] = {b: [] for b in args.binaries}
    for _ in range(args.rounds):
        for binary in args.binaries:
            shutil.rmtree(cache, ignore_errors=True)
            subprocess.run([binary, "mount", src, mnt, "--cache-dir", cache, "--cache-size",
                            "2GiB", "--min-free", "0", "--metadata-ttl", "immutable"],
                           check=True, capture_output=True)
            try:
                with open(os.path.join(mnt, ".epochfs", "stats")) as f:
                    pid = json.load(f)["pid"]
                read_pass(mnt, src, rels, args.threads)  # cold
                time.sleep(1)  # prefetchers settle
                c0, wall = cpu_seconds(pid), 0.0
                for _ in range(3):
                    wall += read_pass(mnt, src, rels, args.threads)
                cpu = cpu_seconds(pid) - c0
                results[binary].append((3 * len(rels) / wall, cpu * 1e6 / (3 * len(rels))))
            finally:
                subprocess.run([binary, "umount", mnt], check=False)
    for binary, rows in results.items():
        print(f"{binary}: warm files/s {[round(r[0]) for r in rows]}, "
              f"daemon CPU us/file {[round(r[1]) for r in rows]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
