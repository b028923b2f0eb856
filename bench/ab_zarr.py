#!/usr/bin/env python3
"""Warm epochs of a zarr DirectoryStore (many small chunk files opened one by one), local
directory against epochfs, side by side in one run. As root, with /dev/fuse and
python3-zarr (Debian):

  bench/ab_zarr.py [BIN] [--chunks 8192] [--rounds 3] [--epochs 3] [--threads 1]
                   [--work /var/tmp/epochfs-abzarr]

The array (--chunks chunks of 224 x 224 float32, ~196 KiB each, uncompressed, one file per
chunk; generated once under --work) is read chunk by chunk in a shuffled order, each chunk
checked against its expected first value, as a training loop over a zarr array would. The
page cache is NOT dropped between epochs: what is measured is what each open of a file costs
when its bytes are in memory (the cost zarr users meet on a warm node). Per round: the local
directory itself, then epochfs mounts of it, each filled by one cold epoch first, then
--epochs warm epochs: `default` (a directory origin's defaults: metadata.ttl 0, so every
open asks the origin whether the file changed), `ttl` (--metadata-ttl 60) and `immutable`
(--metadata-ttl immutable). Reported: warm chunks/s (median of rounds), ratio to local, the
daemon's CPU per warm open, origin stat requests and FUSE requests per warm open
(.epochfs/stats). With --baseline OLD_BIN each mode is also mounted with OLD_BIN in the same
rounds (rows MODE@old): a before/after of a change, side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness"))
from systems import proc_cpu_s  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = 224
MODES = {"default": [], "ttl": ["--metadata-ttl", "60"],
         "immutable": ["--metadata-ttl", "immutable"],
         "once": ["--passthrough-verify", "once"], "off": ["--passthrough", "off"]}


def generate(root: str, chunks: int) -> str:
    """The array under root/array.zarr (made once): chunk i holds the value i everywhere."""
    import numpy as np
    import zarr
    path = os.path.join(root, "array.zarr")
    done = os.path.join(root, f"done-{chunks}")
    if os.path.exists(done):
        return path
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    z = zarr.open(zarr.DirectoryStore(path), mode="w", shape=(chunks * SIDE, SIDE),
                  chunks=(SIDE, SIDE), dtype="f4", compressor=None)
    for i in range(chunks):
        z[i * SIDE:(i + 1) * SIDE, :] = np.float32(i)
    open(done, "w").close()
    return path


def epoch(path: str, chunks: int, threads: int, seed: int) -> float:
    """Seconds to read every chunk once, in a shuffled order, each checked."""
    import zarr
    z = zarr.open(zarr.DirectoryStore(path), mode="r")
    order = list(range(chunks))
    random.Random(seed).shuffle(order)

    def read(i: int) -> None:
        a = z[i * SIDE:(i + 1) * SIDE, :]
        if a[0, 0] != i or a[-1, -1] != i:
            raise SystemExit(f"ab_zarr: chunk {i} read wrong under {path}")

    t0 = time.monotonic()
    if threads == 1:
        for i in order:
            read(i)
    else:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(read, order))
    return time.monotonic() - t0


def stats(mnt: str) -> dict:
    with open(os.path.join(mnt, ".epochfs", "stats")) as f:
        return json.load(f)


def measure_local(path: str, args) -> dict:
    epoch(path, args.chunks, args.threads, 0)  # pages in memory, as for the mounts
    walls = [epoch(path, args.chunks, args.threads, e + 1) for e in range(args.epochs)]
    return {"chunks_s": args.chunks / statistics.mean(walls)}


def measure_mount(binary: str, mode: str, src: str, args) -> dict:
    mnt = os.path.join(args.work, "mnt")
    cache = os.path.join(args.work, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([binary, "mount", os.path.dirname(src), mnt, "--cache-dir", cache,
                    "--cache-size", "4GiB", "--min-free", "0", *MODES[mode]],
                   check=True, capture_output=True)
    try:
        path = os.path.join(mnt, os.path.basename(src))
        pid = stats(mnt)["pid"]
        epoch(path, args.chunks, args.threads, 0)  # cold: fills the cache
        time.sleep(1)
        before = stats(mnt)
        cpu0 = proc_cpu_s(pid)
        walls = [epoch(path, args.chunks, args.threads, e + 1) for e in range(args.epochs)]
        cpu = proc_cpu_s(pid) - cpu0
        after = stats(mnt)
        opens = after["fuse"]["requests"]["open"] - before["fuse"]["requests"]["open"]
        req = {k: round((after["fuse"]["requests"][k] - before["fuse"]["requests"][k]) / opens, 2)
               for k in after["fuse"]["requests"]}
        return {"chunks_s": args.chunks / statistics.mean(walls), "cpu_us": cpu * 1e6 / opens,
                "stats_per_open": round((after["origin"]["stat_requests"] -
                                         before["origin"]["stat_requests"]) / opens, 3),
                "requests_per_open": {k: v for k, v in req.items() if v >= 0.01}}
    finally:
        subprocess.run([binary, "umount", mnt], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?",
                    default=os.path.join(REPO, "build-release", "cli", "epochfs"))
    ap.add_argument("--chunks", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--work", default="/var/tmp/epochfs-abzarr")
    ap.add_argument("--baseline", help="an older epochfs binary, measured alongside (MODE@old)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: one of {','.join(MODES)} each, not {args.modes}")
    src = generate(os.path.join(args.work, "data"), args.chunks)
    runs = [(m, args.binary, m) for m in modes]
    if args.baseline:
        runs = [r for m in modes for r in ((m, args.binary, m), (m + "@old", args.baseline, m))]
    rows: dict[str, list[dict]] = {"local": [], **{name: [] for name, _, _ in runs}}
    for r in range(args.rounds):
        rows["local"].append(measure_local(src, args))
        for name, binary, mode in runs:
            rows[name].append(measure_mount(binary, mode, src, args))
        print(f"round {r + 1}: " + ", ".join(
            f"{k} {v[-1]['chunks_s']:.0f} chunks/s" for k, v in rows.items()), file=sys.stderr)
    local = statistics.median(x["chunks_s"] for x in rows["local"])
    for mode in rows:
        cs = [round(x["chunks_s"]) for x in rows[mode]]
        line = f"{mode:>13}: warm chunks/s {cs}"
        if mode != "local":
            med = statistics.median(x["chunks_s"] for x in rows[mode])
            last = rows[mode][-1]
            line += (f" = {med / local:.2f}x local (medians); daemon CPU us/open "
                     f"{[round(x['cpu_us']) for x in rows[mode]]}; origin stats/open "
                     f"{last['stats_per_open']}; requests/open {last['requests_per_open']}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
