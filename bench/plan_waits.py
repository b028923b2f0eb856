#!/usr/bin/python3
"""Where a planned epoch waits: epochs with a published plan over a directory origin, the cache
at half the dataset, side by side for two binaries (`--baseline OLD_BIN`) in alternating
rounds, each on a fresh dataset and cache.

Per epoch: wall time, the daemon's hit ratio, and its stall figures (.epochfs/stats
"stalls": seconds block reads waited, of them on a prefetch in flight), prefetched blocks and
blocks not admitted. Readers drop each file's pages after reading it (scripts/demo.py's
reader), so every epoch reaches the daemon. Prints the medians of epochs 2+ per binary.

    bench/plan_waits.py build-relwithdebinfo-werror/cli/epochfs --baseline OLD_BIN --rounds 3
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "python"))
import demo  # noqa: E402
from epochfs import publish_plan  # noqa: E402


def run(binary: str, args, work: Path) -> list[dict]:
    if work.exists():
        shutil.rmtree(work)
    src, mnt = work / "ds", work / "mnt"
    src.mkdir(parents=True)
    mnt.mkdir()
    names = demo.make_dataset(src, args.files, args.size_kb, 30, args.seed)
    total = sum((src / n).stat().st_size for n in names)
    subprocess.run([binary, "mount", str(src), str(mnt), "--cache-dir", str(work / "cache"),
                    "--cache-size", str(int(total * args.cache_fraction)), "--min-free", "0",
                    "--policy", "epoch", "--log-file", str(work / "log")], check=True)
    rows = []
    rng = random.Random(args.seed + 1)
    try:
        for e in range(1, args.epochs + 1):
            order = names[:]
            rng.shuffle(order)
            publish_plan(mnt, order)
            b = demo.read_stats(mnt)
            t0 = time.monotonic()
            demo.run_epoch(mnt, order, args.threads, None, True, threading.Event())
            dt = time.monotonic() - t0
            a = demo.read_stats(mnt)

            def d(sec, key):
                return a[sec][key] - b[sec][key]
            reads = d("cache", "hits") + d("cache", "misses")
            rows.append({"epoch": e, "s": dt, "hit": d("cache", "hits") / reads if reads else 0,
                         "waited": d("stalls", "seconds"),
                         "on_prefetch": d("stalls", "prefetch_seconds"),
                         "prefetched": d("prefetch", "prefetched"),
                         "not_admitted": d("cache", "not_admitted")})
    finally:
        subprocess.run([binary, "umount", str(mnt)], check=False)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bin")
    ap.add_argument("--baseline", help="a second binary, run alternately")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--size-kb", type=int, default=100)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--cache-fraction", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    bins = [("new", args.bin)] + ([("old", args.baseline)] if args.baseline else [])
    steady: dict[str, list[dict]] = {name: [] for name, _ in bins}
    with tempfile.TemporaryDirectory(prefix="epochfs-planwaits-") as tmp:
        for r in range(1, args.rounds + 1):
            for name, binary in (bins if r % 2 else bins[::-1]):
                for row in run(binary, args, Path(tmp) / "w"):
                    print(f"round {r} {name} epoch {row['epoch']}: {row['s']:.2f} s, hit "
                          f"{row['hit']:.1%}, waited {row['waited']:.2f} s (on prefetch "
                          f"{row['on_prefetch']:.2f} s), prefetched {row['prefetched']}, "
                          f"not admitted {row['not_admitted']}", flush=True)
                    if row["epoch"] >= 2:
                        steady[name].append(row)
    for name, rows in steady.items():
        med = {k: statistics.median(r[k] for r in rows)
               for k in ("s", "hit", "waited", "on_prefetch", "prefetched")}
        print(f"{name}: epochs 2+, medians of {len(rows)}: {med['s']:.2f} s, hit {med['hit']:.1%}, "
              f"waited {med['waited']:.2f} s, on prefetch {med['on_prefetch']:.2f} s, "
              f"prefetched {med['prefetched']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
