#!/usr/bin/env python3
"""kill -9 of the daemon at random moments under many readers, many times (docs/reliability.md).

The long version of test/integration/test_crash.py, with the same loop
(test/integration/crashloop.py): a directory origin of small files and a few shards, N kills,
each after a random number of completed reads, a remount after each, every read verified; then
one pass over every file on the last remount. Prints the figures as a table row.

    bench/crash_loop.py --epochfs build-release/cli/epochfs --kills 60 --readers 16
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test" / "integration"))

from crashloop import errno_names, run_crash_loop  # noqa: E402
from epochfs_testlib import KiB, MiB, Mount, image_like_sizes, make_dataset  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochfs", required=True, help="the epochfs binary")
    ap.add_argument("--kills", type=int, default=60)
    ap.add_argument("--readers", type=int, default=16)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/var/tmp", help="where the origin and cache go")
    args = ap.parse_args()
    os.environ["EPOCHFS_BIN"] = os.path.abspath(args.epochfs)

    work = Path(tempfile.mkdtemp(prefix="epochfs-crash-", dir=args.workdir))
    mounts: list[Mount] = []
    try:
        sizes = {**image_like_sizes(args.files, classes=20, mean=60 * KiB, seed=args.seed),
                 **{f"shards/s{i}.tar": 9 * MiB + i for i in range(4)}}
        ds = make_dataset(work / "origin", sizes, args.seed)

        def mount() -> Mount:
            m = Mount(ds.root, work / "mnt", work / "cache", work / f"epochfs-{len(mounts)}.log",
                      cache_size="4GiB")
            mounts.append(m)
            m.start()
            return m

        rep = run_crash_loop(mount, ds, kills=args.kills, readers=args.readers, seed=args.seed,
                             reads_between=(50, 400))
        blocks = ds.nblocks()
        print(f"| kill -9 under {args.readers} readers, {args.files} files + 4 shards "
              f"({ds.total_bytes / MiB:.0f} MiB) | {rep.kills} kills, {rep.reads} verified reads, "
              f"**{len(rep.wrong)} wrong**, {rep.failed_reads} reads cut by a kill and retried "
              f"({errno_names(rep.errnos)}), 0 hangs; last remount: "
              f"{rep.recovered_blocks[-1]}/{blocks} blocks recovered, origin "
              f"{rep.final_origin_bytes / MiB:.1f} MiB of {ds.total_bytes / MiB:.0f} MiB, "
              f"{rep.final_checksum_failures} checksum failures |")
        return 1 if rep.wrong else 0
    finally:
        for m in mounts:
            m.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
