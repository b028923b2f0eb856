#!/usr/bin/env python3
"""Records inside one large file read at random, through epochfs with the cache at half the
file: origin bytes per epoch as a fraction of the file (the floor is 1 - c = 0.5), epochs the
daemon counted, and the epoch's time against the same loop on the local file. As root, with
/dev/fuse, python3-h5py and python3-lmdb (Debian):

  bench/records.py [BIN] [--layouts h5py,lmdb] [--records 1536] [--record-kib 192]
                   [--epochs 4] [--modes auto,plan,off] [--work /var/tmp/epochfs-records]

The h5py file holds --records chunks of --record-kib KiB (uncompressed, one row per chunk,
h5py's chunk cache off); the LMDB environment --records values of that size (read through
its mmap with readahead=False, as LMDB advises for random access). Each epoch reads every
record once in a fresh random order and checks it against its digest, the kernel's pages of
the file dropped before the epoch (so that every epoch reaches the daemon: the file would
otherwise sit in the page cache). Modes: `auto` (the default: files read at random are cut
into blocks of about a record, cache.random_block_size), `plan` (auto, and each epoch's
records published as a plan of byte ranges first, h5py only: epochfs.h5py_records), `off`
(blocks of cache.block_size, the behaviour before). A fresh cache dir per mount; the directory
origin is the local file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


def digest(b) -> str:
    return hashlib.sha256(bytes(b)).hexdigest()


def generate(root: str, layout: str, records: int, size: int) -> tuple[str, str, list[str]]:
    """(the path a reader opens, the big file's path, the digests); made once under root."""
    import numpy as np
    d = os.path.join(root, f"{layout}-{records}x{size}")
    top = os.path.join(d, "data.h5" if layout == "h5py" else "db")
    big = top if layout == "h5py" else os.path.join(top, "data.mdb")
    meta = os.path.join(d, "digests.json")
    if os.path.exists(meta):
        with open(meta) as f:
            return top, big, json.load(f)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    rng = np.random.default_rng(1)
    want = []
    if layout == "h5py":
        import h5py
        with h5py.File(top, "w") as f:
            x = f.create_dataset("x", shape=(records, size // 4), dtype="i4", chunks=(1, size // 4))
            for i in range(records):
                row = rng.integers(0, 2**31, size // 4, dtype=np.int32)
                x[i] = row
                want.append(digest(row.tobytes()))
    else:
        import lmdb
        env = lmdb.open(top, map_size=2 * records * size + 64 * MiB)
        with env.begin(write=True) as txn:
            for i in range(records):
                v = rng.bytes(size - 64)
                txn.put(b"%08d" % i, v)
                want.append(digest(v))
        env.close()
    with open(meta, "w") as f:
        json.dump(want, f)
    return top, big, want


def drop(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def one_epoch(layout: str, top: str, big: str, want: list[str], seed: int,
              plan_mount: str | None = None) -> float:
    """Seconds to read every record once in a fresh random order; `plan_mount`: publish the
    order's records there first (h5py: epochfs.h5py_records), in the time measured."""
    import numpy as np
    drop(big)
    order = np.random.default_rng(seed).permutation(len(want))
    t0 = time.monotonic()
    if layout == "h5py":
        import h5py
        with h5py.File(top, "r", rdcc_nbytes=0) as f:
            x = f["x"]
            if plan_mount is not None:
                sys.path.insert(0, os.path.join(REPO, "python"))
                import epochfs
                records = epochfs.h5py_records(x)
                epochfs.publish_plan(plan_mount, (r for i in order for r in records(i)))
            for i in order:
                if digest(x[i].tobytes()) != want[i]:
                    raise SystemExit(f"row {i} differs")
    else:
        import lmdb
        env = lmdb.open(top, readonly=True, lock=False, readahead=False)
        with env.begin() as txn:
            for i in order:
                v = txn.get(b"%08d" % i)
                if v is None or digest(v) != want[i]:
                    raise SystemExit(f"value {i} differs")
        env.close()
    return time.monotonic() - t0


def stats(mnt: str) -> dict:
    with open(os.path.join(mnt, ".epochfs", "stats")) as f:
        return json.load(f)


def run_mount(binary: str, mode: str, layout: str, src, args) -> dict:
    top, big, want = src
    mnt = os.path.join(args.work, "mnt")
    cache = os.path.join(args.work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    cfg = os.path.join(args.work, f"{mode}.yaml")
    with open(cfg, "w") as f:
        f.write(f"cache:\n  random_block_size: {'auto' if mode == 'plan' else mode}\n")
    fsize = os.path.getsize(big)
    limit = fsize // 2
    subprocess.run([binary, "mount", os.path.dirname(os.path.dirname(big)) if layout == "lmdb"
                    else os.path.dirname(big), mnt, "--cache-dir", cache, "--cache-size",
                    str(limit), "--min-free", "0", "--config", cfg],
                   check=True, capture_output=True)
    try:
        rel_top = os.path.join(mnt, os.path.basename(top))
        rel_big = os.path.join(mnt, os.path.relpath(big, os.path.dirname(top)))
        rows = []
        for e in range(args.epochs):
            before = stats(mnt)["cache"]["origin_bytes"]
            wall = one_epoch(layout, rel_top, rel_big, want, 100 + e,
                             plan_mount=mnt if mode == "plan" else None)
            time.sleep(0.5)  # prefetches in flight land
            s = stats(mnt)
            rows.append({"wall": wall, "origin": (s["cache"]["origin_bytes"] - before) / fsize})
        s = stats(mnt)
        return {"epochs": rows, "counted": s["policy"]["epoch"],
                "hit_ratio": s["cache"]["hits"] / max(1, s["cache"]["hits"] + s["cache"]["misses"]),
                "random_files": s["cache"]["random_files"],
                "requests": s["origin"]["requests"]}
    finally:
        subprocess.run([binary, "umount", mnt], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?",
                    default=os.path.join(REPO, "build-release", "cli", "epochfs"))
    ap.add_argument("--layouts", default="h5py,lmdb")
    ap.add_argument("--records", type=int, default=1536)
    ap.add_argument("--record-kib", type=int, default=192)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--modes", default="auto,plan,off")
    ap.add_argument("--work", default="/var/tmp/epochfs-records")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    for layout in args.layouts.split(","):
        src = generate(os.path.join(args.work, "data"), layout, args.records,
                       args.record_kib * 1024)
        size = os.path.getsize(src[1])
        local = [one_epoch(layout, src[0], src[1], src[2], 100 + e) for e in range(args.epochs)]
        local_later = sum(local[1:]) / max(1, len(local) - 1)
        print(f"{layout}: {args.records} records of {args.record_kib} KiB, file "
              f"{size / MiB:.0f} MiB, cache {size / 2 / MiB:.0f} MiB; local epoch "
              f"{local_later:.2f} s (page cache dropped)")
        for mode in args.modes.split(","):
            if mode == "plan" and layout != "h5py":
                continue  # no helper that finds LMDB's records in its file
            r = run_mount(args.binary, mode, layout, src, args)
            later = r["epochs"][1:]
            wall = sum(x["wall"] for x in later) / max(1, len(later))
            per_epoch = " ".join(f"{x['origin']:.2f}" for x in r["epochs"])
            print(f"  {mode:5s} origin/file per epoch {per_epoch}; epochs counted "
                  f"{r['counted']} of {args.epochs}; random files {r['random_files']}; "
                  f"block hit ratio "
                  f"{r['hit_ratio']:.2f}; origin "
                  f"requests {r['requests']}; later epochs {wall:.2f} s = "
                  f"{wall / local_later:.2f}x local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
