#!/usr/bin/python3
"""epochfs demo: shuffled training epochs over a synthetic image-like dataset.

Generates N files of ~SIZE KB (random bytes, so nothing compresses) in class folders in a temp
dir, then for each policy (default: lru, fixed, epoch, and epoch with a published plan) mounts
it with epochfs with a cache smaller than the dataset, reads every file once per epoch in a
fresh random order with parallel reader threads (as a DataLoader's workers do), and prints per
epoch: wall time, files/s, MB/s, the hit ratio of the block cache and the bytes read from the
origin (both from .epochfs/stats, as deltas over the epoch). "plan" publishes each epoch's
order through .epochfs/plan (python/epochfs.publish_plan) before reading it. Always unmounts
and removes the temp dir, also on Ctrl-C.

After reading a file, each reader drops the kernel's page cache of it (posix_fadvise
DONTNEED), as if the dataset were far larger than RAM; otherwise epochs 2+ would be served
from RAM and never reach the cache (--keep-page-cache to see that).

Stdlib only. Needs root (or a user allowed to use FUSE) only for the mount itself.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MB = 1000 * 1000
MiB = 1024 * 1024


def parse_args():
    root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=str(root / "build-release" / "cli" / "epochfs"),
                   help="the epochfs binary (default: %(default)s)")
    p.add_argument("--files", type=int, default=3000, help="number of files (default 3000)")
    p.add_argument("--size-kb", type=int, default=100, help="mean file size in KB (default 100)")
    p.add_argument("--classes", type=int, default=30, help="class folders (default 30)")
    p.add_argument("--epochs", type=int, default=4, help="epochs (default 4)")
    p.add_argument("--threads", type=int, default=8, help="parallel readers (default 8)")
    p.add_argument("--cache-fraction", type=float, default=0.5,
                   help="cache size as a fraction of the dataset (default 0.5)")
    p.add_argument("--policies", default="lru,fixed,epoch,plan",
                   help="comma-separated runs: lru, fixed, epoch, plan (epoch + a published "
                        "plan) (default %(default)s)")
    p.add_argument("--workdir", default=None,
                   help="where to make the temp dir (default: $TMPDIR or /tmp)")
    p.add_argument("--keep-page-cache", action="store_true",
                   help="do not drop each file's page cache after reading it")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.files < 1 or args.size_kb < 1 or args.epochs < 1 or args.threads < 1:
        p.error("--files, --size-kb, --epochs and --threads must be positive")
    if not 0 < args.cache_fraction:
        p.error("--cache-fraction must be positive")
    args.policies = [x.strip() for x in args.policies.split(",") if x.strip()]
    bad = [x for x in args.policies if x not in ("lru", "fixed", "epoch", "plan")]
    if bad or not args.policies:
        p.error(f"--policies: unknown {', '.join(bad) or '(none given)'} "
                "(use lru, fixed, epoch, plan)")
    return args


def make_dataset(root: Path, files: int, size_kb: int, classes: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = []
    for i in range(files):
        rel = f"class_{i % classes:03d}/img_{i:07d}.jpg"
        size = int(size_kb * 1000 * rng.uniform(0.5, 1.5))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # A JPEG-like start of image marker, then incompressible bytes.
        path.write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(max(size - 4, 0)))
        names.append(rel)
    return names


def read_stats(mnt: Path) -> dict:
    with open(mnt / ".epochfs" / "stats", "rb") as f:
        return json.loads(f.read())


def run_epoch(root: Path, names: list[str], threads: int, rng: random.Random | None,
              drop: bool, stop: threading.Event) -> tuple[int, int]:
    """Reads every file once, in a random order (`names` as given when rng is None), with
    `threads` readers taking the next name from one queue; returns (files, bytes)."""
    order = names[:]
    if rng is not None:
        rng.shuffle(order)
    q: queue.SimpleQueue = queue.SimpleQueue()
    for n in order:
        q.put(n)
    done = [0, 0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def reader():
        nfiles = nbytes = 0
        try:
            while not stop.is_set():
                try:
                    rel = q.get_nowait()
                except queue.Empty:
                    break
                fd = os.open(root / rel, os.O_RDONLY)
                try:
                    while chunk := os.read(fd, 1 << 20):
                        nbytes += len(chunk)
                    if drop:
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
                nfiles += 1
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)
            stop.set()
        with lock:
            done[0] += nfiles
            done[1] += nbytes

    ts = [threading.Thread(target=reader, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        while t.is_alive():  # join with a timeout, so Ctrl-C is delivered
            t.join(0.2)
    if errors:
        raise errors[0]
    return done[0], done[1]


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def unmount(binary: str, mnt: Path) -> None:
    if not os.path.ismount(mnt) and not _in_mount_table(mnt):
        return
    try:
        res = subprocess.run([binary, "umount", str(mnt)], capture_output=True, text=True,
                             timeout=60)
        if res.returncode == 0:
            return
        print(f"epochfs umount failed: {res.stderr.strip()}", file=sys.stderr)
    except subprocess.TimeoutExpired:
        print("epochfs umount timed out", file=sys.stderr)
    subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True, timeout=60)


def _in_mount_table(mnt: Path) -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(mnt) for line in f)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_policy(args, policy: str, tmp: Path, src: Path, mnt: Path, names: list[str],
               total: int, cache_size: int, stop: threading.Event) -> tuple[str, str, str, str]:
    """Mounts with `policy` on a fresh cache, reads the epochs, unmounts; returns the summary
    row (epochs 2+)."""
    publish = None
    if policy == "plan":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
        from epochfs import publish_plan  # noqa: PLC0415 - the repo's python/ package
        publish = publish_plan
    cache = tmp / f"cache-{policy}"
    log = tmp / f"epochfs-{policy}.log"
    cmd = [args.bin, "mount", str(src), str(mnt), "--cache-dir", str(cache),
           "--cache-size", str(cache_size), "--min-free", "0",
           "--policy", "epoch" if policy == "plan" else policy, "--log-file", str(log)]
    print()
    print(f"demo: policy {policy}: " + " ".join(cmd))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"mount failed ({res.returncode}): {res.stderr.strip()}")
    try:
        rng = random.Random(args.seed + 1)  # the same orders for every policy
        # hit ratio: of the block reads that reached the daemon (stats hits and misses);
        # origin: bytes fetched (demand and prefetch) as a share of the dataset; waited: the
        # seconds block reads spent waiting on the origin or a prefetch (stats "stalls").
        header = (f"{'epoch':>5} {'time s':>8} {'files/s':>9} {'MB/s':>8} {'hit ratio':>9} "
                  f"{'from origin':>12} {'of dataset':>10} {'cache used':>11} {'waited s':>9} "
                  f"{'on prefetch':>11}")
        print(header)
        print("-" * len(header))
        hits_sum = reads_sum = origin_sum = bytes_sum = 0
        time_sum = 0.0
        for epoch in range(1, args.epochs + 1):
            order = names[:]
            rng.shuffle(order)
            if publish is not None:
                publish(mnt, order)
            before = read_stats(mnt)
            t0 = time.monotonic()
            nf, nb = run_epoch(mnt, order, args.threads, None, drop=not args.keep_page_cache,
                               stop=stop)
            dt = time.monotonic() - t0
            after = read_stats(mnt)
            hits = after["cache"]["hits"] - before["cache"]["hits"]
            misses = after["cache"]["misses"] - before["cache"]["misses"]
            origin = after["origin"]["bytes"] - before["origin"]["bytes"]
            ratio = f"{hits / (hits + misses):9.1%}" if hits + misses else f"{'n/a':>9}"
            waited = after["stalls"]["seconds"] - before["stalls"]["seconds"]
            on_prefetch = (after["stalls"]["prefetch_seconds"] -
                           before["stalls"]["prefetch_seconds"])
            print(f"{epoch:>5} {dt:8.2f} {nf / dt:9.0f} {nb / MB / dt:8.1f} {ratio} "
                  f"{fmt_bytes(origin):>12} {origin / total:10.1%} "
                  f"{fmt_bytes(after['cache']['used_bytes']):>11} {waited:9.2f} "
                  f"{on_prefetch:11.2f}", flush=True)
            if epoch >= 2:
                hits_sum += hits
                reads_sum += hits + misses
                origin_sum += origin
                bytes_sum += nb
                time_sum += dt
        s = read_stats(mnt)
        c, pf = s["cache"], s["prefetch"]
        print(f"demo: cache blocks {c['blocks']}, evictions {c['evictions']}, not admitted "
              f"{c['not_admitted']}, checksum failures {c['checksum_failures']}, prefetched "
              f"{pf['prefetched']} ({pf['unused']} unused)")
    finally:
        unmount(args.bin, mnt)
    n = args.epochs - 1
    if n < 1:
        return policy, "n/a", "n/a", "n/a"
    return (policy, f"{hits_sum / reads_sum:.1%}" if reads_sum else "n/a",
            f"{origin_sum / n / total:.1%} of dataset", f"{bytes_sum / MB / time_sum:.0f}")


def main() -> int:
    args = parse_args()
    if not os.access(args.bin, os.X_OK):
        print(f"demo: no epochfs binary at {args.bin} (build it with scripts/build.sh Release, "
              "or pass --bin)", file=sys.stderr)
        return 1
    # Ctrl-C (even if the shell started us with SIGINT ignored), SIGTERM and SIGHUP all clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)

    tmp = Path(tempfile.mkdtemp(prefix="epochfs-demo-", dir=args.workdir))
    src, mnt = tmp / "dataset", tmp / "mnt"
    stop = threading.Event()
    try:
        print(f"demo: generating {args.files} files of ~{args.size_kb} KB in {args.classes} "
              f"class folders under {src}")
        t0 = time.monotonic()
        names = make_dataset(src, args.files, args.size_kb, args.classes, args.seed)
        total = sum(os.stat(src / n).st_size for n in names)
        print(f"demo: dataset {fmt_bytes(total)} in {time.monotonic() - t0:.1f} s")
        cache_size = max(int(total * args.cache_fraction), 8 * MiB)
        print(f"demo: cache {fmt_bytes(cache_size)} = {args.cache_fraction:.0%} of the dataset, "
              f"{args.threads} reader threads, {args.epochs} epochs per policy")
        # Baseline: the same files read directly (the origin dir; its pages are warm in RAM).
        t0 = time.monotonic()
        nf, nb = run_epoch(src, names, args.threads, random.Random(args.seed), drop=False,
                           stop=stop)
        dt = time.monotonic() - t0
        print(f"demo: direct read of the origin dir (page cache warm): {nf / dt:.0f} files/s, "
              f"{nb / MB / dt:.1f} MB/s")
        mnt.mkdir()
        summary = []
        for policy in args.policies:
            summary.append(run_policy(args, policy, tmp, src, mnt, names, total, cache_size,
                                      stop))
        print()
        print(f"demo: epochs 2-{args.epochs}, cache = {args.cache_fraction:.0%} of the dataset")
        print(f"{'policy':>8} {'hit ratio':>10} {'origin bytes / epoch':>22} {'MB/s':>8}")
        for policy, ratio, origin, mbps in summary:
            print(f"{policy:>8} {ratio:>10} {origin:>22} {mbps:>8}")
        return 0
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    finally:
        stop.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
        unmount(args.bin, mnt)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"demo: unmounted and removed {tmp}")


if __name__ == "__main__":
    sys.exit(main())
