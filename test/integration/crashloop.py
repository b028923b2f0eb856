"""kill -9 of the daemon at random moments under many readers, remount, readers go on.

Used by test_crash.py (a CI-sized run) and bench/crash_loop.py (long runs for
docs/reliability.md). Readers pick random files and read them whole from whichever mount is
current; a read that fails because the daemon died (ENOTCONN, EIO, ECONNABORTED...) waits for
the next mount and is tried again; every completed read is compared with the dataset. Kills
come after a random number of completed reads (not after a time), so a run is the same amount
of work on a loaded machine. After the last kill: a remount and one pass over every file.
"""

from __future__ import annotations

import errno
import random
import threading
from dataclasses import dataclass, field

from epochfs_testlib import Dataset, Mount, read_file


@dataclass
class CrashReport:
    kills: int = 0
    reads: int = 0                # completed reads, all verified
    wrong: list[str] = field(default_factory=list)   # reads whose bytes differed
    failed_reads: int = 0         # reads cut by a kill (retried on the next mount)
    errnos: dict[int, int] = field(default_factory=dict)
    recovered_blocks: list[int] = field(default_factory=list)  # per remount
    final_origin_bytes: int = 0   # origin bytes of the final pass after the last remount
    final_checksum_failures: int = 0
    dataset_bytes: int = 0


def run_crash_loop(mount, ds: Dataset, kills: int, readers: int = 16, seed: int = 1,
                   reads_between: tuple[int, int] = (20, 120)) -> CrashReport:
    """`mount()` starts a new mount on the same cache dir and returns it (a Mount)."""
    rng = random.Random(seed)
    rels = sorted(ds.files)
    report = CrashReport(dataset_bytes=ds.total_bytes)
    lock = threading.Condition()
    current: list[Mount] = [mount()]
    generation = [0]
    done = [0]
    stop = threading.Event()

    def reader(i: int) -> None:
        r = random.Random(seed * 1000 + i)
        while not stop.is_set():
            rel = r.choice(rels)
            with lock:
                m, gen = current[0], generation[0]
            try:
                data = read_file(m.mountpoint / rel, chunk=r.choice([4096, 65536, 1 << 20]))
            except OSError as e:
                with lock:
                    report.failed_reads += 1
                    report.errnos[e.errno] = report.errnos.get(e.errno, 0) + 1
                    # Wait for the next mount (or the end).
                    lock.wait_for(lambda: generation[0] != gen or stop.is_set(), timeout=120)
                continue
            with lock:
                if data != ds.files[rel]:
                    report.wrong.append(f"{rel} (mount {gen})")
                done[0] += 1
                report.reads += 1
                lock.notify_all()

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    try:
        for _ in range(kills):
            target = done[0] + rng.randint(*reads_between)
            with lock:
                if not lock.wait_for(lambda: done[0] >= target, timeout=120):
                    raise AssertionError(f"readers made no progress ({done[0]} reads)")
                m = current[0]
            m.kill9()
            report.kills += 1
            m.lazy_umount()
            new = mount()
            report.recovered_blocks.append(new.stats()["cache"]["recovered_blocks"])
            with lock:
                current[0] = new
                generation[0] += 1
                lock.notify_all()
    finally:
        stop.set()
        with lock:
            lock.notify_all()
        for t in threads:
            t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a reader stayed blocked"

    # The last mount: every file once, after the others' reads filled the cache.
    m = current[0]
    m.settled_stats()
    m.kill9()
    report.kills += 1
    m.lazy_umount()
    final = mount()
    before = final.stats()
    report.recovered_blocks.append(before["cache"]["recovered_blocks"])
    for rel in rels:
        if read_file(final.mountpoint / rel) != ds.files[rel]:
            report.wrong.append(f"{rel} (final pass)")
        report.reads += 1
    after = final.settled_stats()
    report.final_origin_bytes = after["origin"]["bytes"] - before["origin"]["bytes"]
    report.final_checksum_failures = after["cache"]["checksum_failures"]
    return report


def errno_names(errnos: dict[int, int]) -> str:
    return ", ".join(f"{errno.errorcode.get(k, k)}: {v}" for k, v in sorted(errnos.items()))

