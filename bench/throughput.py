#!/usr/bin/env python3
"""Read throughput through an epochfs mount vs the same files read directly.

Generates a dataset of small files (and optionally a few large ones) in a temp dir, then reads
every file with N threads:
  direct-cold   the origin directory, page cache dropped
  direct-warm   the origin directory again (page cache warm)
  mount-cold    through a fresh epochfs mount with an empty cache (page cache dropped)
  mount-warm    through the same mount again (kernel page cache, keep_cache)
  mount-ssd     through the mount after dropping the page cache: every read is a cache hit
                served by the daemon from its SSD blocks
and prints MB/s and the ratio of each mount pass to the matching direct pass. It measures and
reports; it asserts nothing about time.

Usage (root): bench/throughput.py --epochfs build/cli/epochfs [--files 3000 --size-kb 110]
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def drop_caches():
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        print(f"warning: cannot drop the page cache ({e}); cold numbers are warm", file=sys.stderr)


def make_dataset(root, files, size_kb, large, large_mb, seed):
    rng = random.Random(seed)
    paths = []
    classes = 30
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c:03d}"), exist_ok=True)
    block = os.urandom(1 << 20)
    for i in range(files):
        size = max(1, int(size_kb * 1024 * rng.uniform(0.8, 1.2)))
        rel = os.path.join(f"class_{i % classes:03d}", f"img_{i:06d}.jpg")
        with open(os.path.join(root, rel), "wb") as f:
            off = rng.randrange(0, len(block) - size) if size < len(block) else 0
            f.write(block[off:off + size])
        paths.append(rel)
    for i in range(large):
        rel = f"shard_{i:03d}.tar"
        with open(os.path.join(root, rel), "wb") as f:
            for _ in range(large_mb):
                f.write(os.urandom(1 << 20))
        paths.append(rel)
    return paths


def read_all(root, paths, threads):
    def one(rel):
        n = 0
        with open(os.path.join(root, rel), "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    return n
                n += len(b)
    order = list(paths)
    random.shuffle(order)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        total = sum(ex.map(one, order))
    return total, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochfs", required=True)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--size-kb", type=int, default=110)
    ap.add_argument("--large", type=int, default=0, help="number of large files")
    ap.add_argument("--large-mb", type=int, default=256)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="epochfs-bench-")
    origin, mnt, cache = (os.path.join(work, d) for d in ("origin", "mnt", "cache"))
    for d in (origin, mnt):
        os.makedirs(d)
    results = {}
    mounted = False
    try:
        paths = make_dataset(origin, args.files, args.size_kb, args.large, args.large_mb, 1)
        dataset = sum(os.path.getsize(os.path.join(origin, p)) for p in paths)
        cache_size = str(dataset * 2 + (64 << 20))

        def run(name, root, drop):
            if drop:
                drop_caches()
            n, secs = read_all(root, paths, args.threads)
            assert n == dataset, f"{name}: read {n} bytes, expected {dataset}"
            results[name] = {"seconds": secs, "mb_per_s": n / secs / 1e6}
            print(f"{name:12s} {secs:8.3f} s {n / secs / 1e6:10.1f} MB/s", flush=True)

        run("direct-cold", origin, True)
        run("direct-warm", origin, False)
        subprocess.run([args.epochfs, "mount", origin, mnt, "--cache-dir", cache,
                        "--cache-size", cache_size, "--min-free", "0"], check=True)
        mounted = True
        run("mount-cold", mnt, True)
        run("mount-warm", mnt, False)
        run("mount-ssd", mnt, True)
        with open(os.path.join(mnt, ".epochfs", "stats")) as f:
            results["stats"] = json.load(f)
        for a, b in (("mount-cold", "direct-cold"), ("mount-warm", "direct-warm"),
                     ("mount-ssd", "direct-cold")):
            ratio = results[a]["mb_per_s"] / results[b]["mb_per_s"]
            results[f"{a}/{b}"] = ratio
            print(f"{a} / {b}: {ratio:.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        if mounted:
            subprocess.run([args.epochfs, "umount", mnt])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
