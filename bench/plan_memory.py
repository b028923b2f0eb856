#!/usr/bin/env python3
"""The daemon's memory for a published plan, per MiB of plan text (issue 10, F6).

Generates --files one-byte files with long names (class folders of 1,000) under WORK once,
mounts epochfs over that directory (immutable namespace snapshot, no prefetchers, a cache that
holds it all), then publishes one plan naming every file in a random order, --plans times.
Around each publication it records the daemon's VmRSS before, its peak while the plan was
sent, parsed and handed to the policy (VmHWM, reset through /proc/PID/clear_refs first), and
VmRSS after. Prints a markdown row per plan: plan MiB, paths, peak and kept MiB above the
RSS before, and both per MiB of plan. Needs root and /dev/fuse.

  bench/plan_memory.py [--files 400000] [--plans 2] [--work /var/tmp/epochfs-planmem]
                       [--epochfs build-release/cli/epochfs]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench", "harness"))
sys.path.insert(0, os.path.join(ROOT, "python"))
from dataset import many_files  # noqa: E402
from systems import proc_mem  # noqa: E402

import epochfs  # noqa: E402

# A name about as long as an ImageNet path (train/n01440764/n01440764_10026.JPEG is 39 bytes).
NAME = "sample_{:08d}_with_a_name_as_long_as_real_ones.jpeg"


def generate(src: str, n: int) -> list[str]:
    rels = [f"class_{i // 1000:05d}/" + NAME.format(i) for i in range(n)]
    many_files(src, rels, lambda i: b"x", str(n))
    return rels


def mib(b: float) -> float:
    return round(b / (1 << 20), 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=400000)
    ap.add_argument("--plans", type=int, default=2)
    ap.add_argument("--work", default="/var/tmp/epochfs-planmem")
    ap.add_argument("--epochfs", default=os.path.join(ROOT, "build-release", "cli", "epochfs"))
    args = ap.parse_args()
    src = os.path.join(args.work, "src")
    mnt = os.path.join(args.work, "mnt")
    cache = os.path.join(args.work, "cache")
    os.makedirs(args.work, exist_ok=True)
    print(f"{args.files} files: generating (once) in {src}", file=sys.stderr)
    rels = generate(src, args.files)
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([args.epochfs, "mount", src, mnt, "--cache-dir", cache, "--cache-size",
                    str(max(1 << 30, args.files * 8192 * 2)), "--min-free", "0",
                    "--metadata-ttl", "immutable", "--prefetch-threads", "0"], check=True)
    rows = []
    try:
        pid = epochfs.read_stats(mnt)["pid"]
        rng = random.Random(1)
        for k in range(args.plans):
            order = rels[:]
            rng.shuffle(order)
            text_bytes = sum(len(p) + 1 for p in order)
            before = proc_mem(pid)["rss"]
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            t0 = time.monotonic()
            published = epochfs.publish_plan(mnt, order)
            seconds = time.monotonic() - t0
            mem = proc_mem(pid)
            planned = epochfs.read_stats(mnt)["plans"]["planned_blocks"]
            plan_mib = text_bytes / (1 << 20)
            peak = mem["hwm"] - before
            kept = mem["rss"] - before
            rows.append({"plan": k + 1, "plan_mib": round(plan_mib, 1), "paths": published,
                         "planned_blocks_total": planned, "rss_before_mib": mib(before),
                         "peak_mib": mib(peak), "kept_mib": mib(kept),
                         "peak_per_plan_mib": round(peak / (1 << 20) / plan_mib, 2),
                         "kept_per_plan_mib": round(kept / (1 << 20) / plan_mib, 2),
                         "publish_s": round(seconds, 2)})
    finally:
        subprocess.run([args.epochfs, "umount", mnt], check=False)
    with open(os.path.join(args.work, "plan_memory.json"), "w") as f:
        json.dump(rows, f, indent=1)
    cols = list(rows[0].keys()) if rows else []
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
