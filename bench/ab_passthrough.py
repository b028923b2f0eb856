#!/usr/bin/env python3
"""Warm epochs with FUSE passthrough on and off, and the local disk, side by side in one run.
As root, with /dev/fuse:

  bench/ab_passthrough.py [BIN] [--rounds 3] [--files 2000] [--threads 8] [--torch]
                          [--shards N --shard-mib 64] [--once]

Uses the harness's small dataset (--files files of ~110 KB, in class folders; generated once
under --work, bench/harness/dataset.py), or with --shards its large one (N files of
--shard-mib MiB each: shards, each many cache blocks). Per round, for local disk (the dataset directory
itself) and for one mount of BIN with `--passthrough on` and one with `--passthrough off`
(each with an immutable namespace snapshot and a cache that holds it all, filled by one cold
pass): WARM epochs, each after `echo 3 > /proc/sys/vm/drop_caches` (`--drop 1`: pages only,
keeping the kernel's dentries, as a dataset larger than RAM would), so that every epoch reads
from the SSD (the cache files, or the dataset's files). Reported: warm files/s (mean of the
epochs; the ratio also for the warm epochs after the first, which `once` verifies) and, for
the mounts, the daemon's CPU time per warm file, and the FUSE requests per warm file
(.epochfs/stats). The three alternate in every round, so a shared machine's load
drifts over all alike. Every file's crc32 is checked against the dataset's manifest.
With --once a fourth row, `once`, mounts with `--passthrough on --passthrough-verify once`
(a file verified at its first hand-out in the mount is not verified again at later opens).
With --torch the epochs are read by a PyTorch DataLoader (bench/harness/torchload.py) instead
of reader threads.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness"))
import dataset as datasetmod  # noqa: E402
from readers import Checker, run_epoch  # noqa: E402
from systems import proc_cpu_s  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3


def drop_caches(what: str) -> None:
    """echo WHAT > /proc/sys/vm/drop_caches: "1" pages, "3" pages, dentries and inodes."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write(what + "\n")


def epoch(root: str, ds: datasetmod.Dataset, threads: int, torch: bool) -> float:
    """Seconds to read every file once under `root`, checked."""
    if torch:
        from torchload import TorchRunner  # imported only here: importing torch takes seconds
        res = TorchRunner(root, ds.files, threads, Checker("crc32"), seed=1).epoch()
    else:
        res = run_epoch(root, ds.files, threads, Checker("crc32"), drop_cache=False)
    if res.mismatch_count:
        raise SystemExit(f"ab_passthrough: {res.mismatch_count} files read wrong under {root}, "
                         f"e.g. {res.mismatches[0]}")
    return res.wall_s


def stats(mnt: str) -> dict:
    with open(os.path.join(mnt, ".epochfs", "stats")) as f:
        return json.load(f)


def measure_local(ds: datasetmod.Dataset, threads: int, torch: bool, drop: str) -> dict:
    walls = []
    for _ in range(EPOCHS):
        drop_caches(drop)
        walls.append(epoch(ds.root, ds, threads, torch))
    return {"files_s": len(ds.files) / statistics.mean(walls),
            "later_files_s": len(ds.files) / statistics.mean(walls[1:])}


def measure_mount(binary: str, mode: str, ds: datasetmod.Dataset, work: str, threads: int,
                  torch: bool, drop: str) -> dict:
    mnt = os.path.join(work, "mnt-" + mode)
    cache = os.path.join(work, "cache-" + mode)
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(mnt, exist_ok=True)
    flags = (["--passthrough", "on", "--passthrough-verify", "once"] if mode == "once"
             else ["--passthrough", mode])
    subprocess.run([binary, "mount", ds.root, mnt, "--cache-dir", cache, "--cache-size", "2GiB",
                    "--min-free", "0", "--metadata-ttl", "immutable", *flags],
                   check=True, capture_output=True)
    try:
        s0 = stats(mnt)
        pid = s0["pid"]
        epoch(mnt, ds, threads, torch)  # cold: fills the cache
        time.sleep(1)  # prefetchers settle
        walls = []
        cpu = 0.0
        before = stats(mnt)
        for _ in range(EPOCHS):
            drop_caches(drop)
            cpu0 = proc_cpu_s(pid)
            walls.append(epoch(mnt, ds, threads, torch))
            cpu += proc_cpu_s(pid) - cpu0
        after = stats(mnt)
        files = EPOCHS * len(ds.files)
        req = {k: (after["fuse"]["requests"][k] - before["fuse"]["requests"][k]) / files
               for k in after["fuse"]["requests"]}
        return {"files_s": len(ds.files) / statistics.mean(walls),
                "later_files_s": len(ds.files) / statistics.mean(walls[1:]),
                "cpu_us": cpu * 1e6 / files,
                "requests_per_file": {k: round(v, 2) for k, v in req.items() if v >= 0.01},
                "passthrough_opens": after["fuse"]["passthrough"]["opens"] -
                before["fuse"]["passthrough"]["opens"]}
    finally:
        subprocess.run([binary, "umount", mnt], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", nargs="?",
                    default=os.path.join(REPO, "build-release", "cli", "epochfs"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--work", default="/var/tmp/epochfs-abpt")
    ap.add_argument("--drop", choices=["1", "3"], default="3",
                    help="what drop_caches drops before each warm epoch: 3 (default) pages, "
                         "dentries and inodes; 1 pages only, as a dataset larger than RAM "
                         "evicts them")
    ap.add_argument("--shards", type=int, default=0,
                    help="read N large files (shards) instead of the small-file dataset")
    ap.add_argument("--shard-mib", type=int, default=64)
    ap.add_argument("--once", action="store_true",
                    help="also measure --passthrough-verify once (row 'once')")
    args = ap.parse_args()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.shards:
        ds = datasetmod.generate(os.path.join(args.work, "large"), "large", args.shards,
                                 args.shard_mib << 20, log=log)
    else:
        ds = datasetmod.generate(os.path.join(args.work, "small"), "small", args.files, 110_000,
                                 log=log)
    modes = ["on", "once", "off"] if args.once else ["on", "off"]
    rows: dict[str, list[dict]] = {"local": [], **{m: [] for m in modes}}
    for r in range(args.rounds):
        rows["local"].append(measure_local(ds, args.threads, args.torch, args.drop))
        for mode in modes:
            rows[mode].append(measure_mount(args.binary, mode, ds, args.work, args.threads,
                                            args.torch, args.drop))
        print(f"round {r + 1}: " + ", ".join(
            f"{k} {v[-1]['files_s']:.0f} files/s" for k, v in rows.items()), file=sys.stderr)
    local = statistics.median(x["files_s"] for x in rows["local"])
    local_later = statistics.median(x["later_files_s"] for x in rows["local"])
    for mode in ("local", *modes):
        fs = [round(x["files_s"]) for x in rows[mode]]
        line = f"{mode:>5}: warm files/s {fs}"
        if mode != "local":
            med = statistics.median(x["files_s"] for x in rows[mode])
            later = statistics.median(x["later_files_s"] for x in rows[mode])
            line += (f" = {med / local:.2f}x local disk (medians; warm epochs 2-{EPOCHS} only: "
                     f"{later / local_later:.2f}x); daemon CPU us/file "
                     f"{[round(x['cpu_us']) for x in rows[mode]]}; requests/file "
                     f"{rows[mode][-1]['requests_per_file']}; passthrough opens "
                     f"{rows[mode][-1]['passthrough_opens']}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
