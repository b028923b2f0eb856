"""The SSD cache through real mounts: the size limit held while a dataset 3x larger is read,
minimum free space, reuse after remount, recovery after kill -9, corrupted blocks, and origin
files that change."""

from __future__ import annotations

import os
import queue
import random
import threading
import time

import pytest

from epochfs_testlib import (DEFAULT_BLOCK, KiB, MiB, block_files, cached_blocks, delta,
                             disk_usage, disk_usage_by_entry, drop_page_cache, flip_byte,
                             image_like_sizes, read_all_verify, read_file, read_stats)


class Sampler(threading.Thread):
    """Polls, every ~10 ms and after every `every`-th file the readers finish (tick), the cache
    dir's real disk usage, the stats' used_bytes and (optionally) the free space of the cache's
    filesystem; keeps the extremes. The ticks make the number of samples taken while the cache
    fills independent of how fast the reads run."""

    def __init__(self, mount, statvfs_path=None, every: int = 8):
        super().__init__(daemon=True)
        self.mount = mount
        self.statvfs_path = statvfs_path
        self.every = every
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ticks = 0
        self.samples = 0
        self.max_du = 0
        self.max_du_parts: dict[str, int] = {}  # disk usage by top-level entry at max_du
        self.max_used = 0
        self.min_free = None
        self.max_fs_used = 0  # used bytes of the cache's own filesystem (statvfs: atomic)
        self.error = None

    def tick(self):
        """Called by a reader after each file it read; samples every `every`-th call."""
        with self.lock:
            self.ticks += 1
            due = self.ticks % self.every == 0
        if due:
            self.sample()

    def sample(self):
        with self.lock:
            self._sample()

    def _sample(self):
        parts = disk_usage_by_entry(self.mount.cache_dir)
        if sum(parts.values()) > self.max_du:
            self.max_du, self.max_du_parts = sum(parts.values()), parts
        self.max_used = max(self.max_used, read_stats(self.mount.mountpoint)["cache"]["used_bytes"])
        if self.statvfs_path:
            sv = os.statvfs(self.statvfs_path)
            free = sv.f_bavail * sv.f_frsize
            self.min_free = free if self.min_free is None else min(self.min_free, free)
            self.max_fs_used = max(self.max_fs_used, (sv.f_blocks - sv.f_bfree) * sv.f_frsize)
        self.samples += 1

    def run(self):
        try:
            while not self.stop.is_set():
                self.sample()
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        assert self.error is None, f"sampler failed: {self.error!r}"
        self.sample()


def read_epochs(mount, ds, epochs: int, threads: int, seed: int, on_file=None) -> list[str]:
    """Reads every file once per epoch in a fresh shuffled order with `threads` readers; drops
    each file's page cache after reading so that every epoch goes through the daemon; calls
    on_file() after each file. Returns the errors (wrong bytes or exceptions)."""
    errors: list[str] = []
    rng = random.Random(seed)
    for _ in range(epochs):
        order = list(ds.files)
        rng.shuffle(order)
        q: queue.SimpleQueue = queue.SimpleQueue()
        for rel in order:
            q.put(rel)

        def reader():
            while True:
                try:
                    rel = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    path = mount.mountpoint / rel
                    if read_file(path) != ds.files[rel]:
                        errors.append(f"{rel}: wrong bytes")
                    drop_page_cache(path)
                    if on_file is not None:
                        on_file()
                except Exception as e:  # noqa: BLE001 - reported by the test
                    errors.append(f"{rel}: {e!r}")

        ts = [threading.Thread(target=reader) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return errors


def dataset_3x(limit: int) -> dict[str, int]:
    sizes = image_like_sizes(520, classes=13, seed=31)
    sizes.update({"big/a.bin": 3 * MiB + 5, "big/b.bin": 5 * MiB + 77, "big/c.bin": 2 * MiB})
    return sizes


@pytest.mark.parametrize("policy", ["lru", "fixed"])
def test_size_limit_held_with_dataset_3x_cache(dataset, mounter, small_fs, policy):
    limit = 20 * MiB
    ds = dataset(dataset_3x(limit), seed=31)
    assert ds.total_bytes >= 3 * limit
    # The cache dir gets a filesystem of its own, so that its real usage can be sampled
    # atomically (statvfs) while blocks come and go; a walk of the dir (du) is not atomic and
    # can count a file evicted during the walk together with its replacement. The daemon's
    # log goes elsewhere (the mounter's log file), so the filesystem holds only the cache.
    fs = small_fs(64)
    m = mounter(ds.root, cache_dir=fs / "cache", cache_size="20MiB",
                args=["--policy", policy, "--threads", "8", "--min-free", "0"])
    s0 = m.stats()
    assert s0["cache"]["limit_bytes"] == limit
    assert s0["policy"]["name"] == policy

    sampler = Sampler(m, statvfs_path=fs)
    sampler.start()
    errors = read_epochs(m, ds, epochs=1, threads=6, seed=1, on_file=sampler.tick)
    s1 = m.stats()
    errors += read_epochs(m, ds, epochs=1, threads=6, seed=2, on_file=sampler.tick)
    sampler.finish()
    s2 = m.stats()

    print(f"{sampler.samples} samples: max fs used {sampler.max_fs_used} B, max du "
          f"{sampler.max_du} B, max used_bytes {sampler.max_used} B, limit {limit} B; "
          f"stats {s2['cache']}")
    assert not errors, errors[:5]
    # At least one sample per `every` files read, however fast the reads ran.
    assert sampler.samples >= 2 * len(ds.files) // sampler.every, sampler.samples
    assert sampler.max_fs_used <= limit, (
        f"the cache's filesystem held {sampler.max_fs_used} B > limit {limit}")
    final_du = sum(disk_usage_by_entry(m.cache_dir).values())
    assert final_du <= limit, f"cache dir uses {final_du} B on disk > limit {limit}"
    assert sampler.max_used <= limit, f"stats used_bytes reached {sampler.max_used} > {limit}"
    assert s2["cache"]["blocks"] > 0
    assert s2["cache"]["used_bytes"] > limit // 4, "the cache should be well used"
    # Pass 1 read everything from the origin, once; pass 2 could not find it all in the cache.
    if policy == "lru":
        assert s1["origin"]["bytes"] == ds.total_bytes, s1["origin"]
    else:
        # Once fixed is full, a block it declines is read from the origin only as far as each
        # FUSE read asks; a block whose admission was lost to a concurrent fill after its whole
        # fetch may see its remaining range read again. Never a whole block per FUSE read.
        assert ds.total_bytes <= s1["origin"]["bytes"] <= ds.total_bytes * 1.02, s1["origin"]
    assert delta(s1, s2, "origin.bytes") > 0
    if policy == "lru":
        assert s2["cache"]["evictions"] > 0, s2["cache"]
    else:  # fixed: fill, then never evict; what is cached stays and hits in pass 2
        assert s2["cache"]["evictions"] == 0, s2["cache"]
        assert s2["cache"]["not_admitted"] > 0, s2["cache"]
        assert delta(s1, s2, "cache.hits") > 0, s2["cache"]


def test_min_free_space_kept(dataset, small_fs, mounter):
    fs = small_fs(48)
    min_free = 24 * MiB
    ds = dataset(dataset_3x(20 * MiB), seed=32)
    # The size limit alone would allow 40 MiB; min_free leaves only 24 MiB for the cache.
    m = mounter(ds.root, cache_dir=fs / "cache", cache_size="40MiB",
                args=["--min-free", "24MiB"])
    sampler = Sampler(m, statvfs_path=fs)
    sampler.start()
    errors = read_epochs(m, ds, epochs=2, threads=4, seed=3, on_file=sampler.tick)
    sampler.finish()
    s = m.stats()
    print(f"{sampler.samples} samples: min free {sampler.min_free} B, max du {sampler.max_du} "
          f"B {sampler.max_du_parts}; stats {s['cache']}")
    assert not errors, errors[:5]
    assert s["cache"]["blocks"] > 0, "nothing was cached at all"
    assert sampler.min_free >= min_free, (
        f"free space on the cache filesystem fell to {sampler.min_free} B < min_free {min_free}")


def test_remount_reuses_cache_without_origin_reads(dataset, mounter):
    ds = dataset({**image_like_sizes(60, classes=3, seed=33), "big/a.bin": 9 * MiB + 1}, seed=33)
    m1 = mounter(ds.root)
    read_all_verify(m1.mountpoint, ds)
    s1 = m1.settled_stats()
    assert s1["cache"]["blocks"] == ds.nblocks()
    m1.umount()

    m2 = mounter(ds.root, cache_dir=m1.cache_dir)
    s2a = m2.stats()
    assert s2a["cache"]["blocks"] == ds.nblocks(), s2a["cache"]
    assert s2a["cache"]["used_bytes"] >= ds.total_bytes, s2a["cache"]
    read_all_verify(m2.mountpoint, ds)
    s2 = m2.stats()
    assert s2["origin"]["bytes"] == 0, s2["origin"]
    assert s2["origin"]["read_requests"] == 0, s2["origin"]
    assert s2["cache"]["misses"] == 0, s2["cache"]
    assert s2["cache"]["hits"] >= ds.nblocks(), s2["cache"]
    assert s2["cache"]["checksum_failures"] == 0


def test_kill9_recovery(dataset, mounter):
    sizes = {"first/whole.bin": 6 * MiB + 3,
             **image_like_sizes(300, classes=4, seed=34, prefix="rest/"),
             "rest/big1.bin": 9 * MiB, "rest/big2.bin": 7 * MiB + 5}
    ds = dataset(sizes, seed=34)
    m1 = mounter(ds.root)
    read_all_verify(m1.mountpoint, ds, rels=["first/whole.bin"])
    assert m1.settled_stats()["cache"]["blocks"] == 2

    rest = [r for r in ds.files if r.startswith("rest/")]
    random.Random(1).shuffle(rest)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for rel in rest:
        todo.put(rel)
    cond = threading.Condition()
    done = [0]
    wrong: list[str] = []
    io_errors: list[int] = []

    def reader():
        while True:
            try:
                rel = todo.get_nowait()
            except queue.Empty:
                return
            try:
                data = read_file(m1.mountpoint / rel, chunk=64 * KiB)
            except OSError as e:  # expected once the daemon is gone
                io_errors.append(e.errno)
                return
            if data != ds.files[rel]:
                wrong.append(rel)
            with cond:
                done[0] += 1
                cond.notify_all()

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    with cond:
        assert cond.wait_for(lambda: done[0] >= 40, timeout=60), "readers made no progress"
        read_at_kill = done[0]
    m1.kill9()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a reader stayed blocked after the daemon was killed"
    assert not wrong, f"wrong bytes before the kill: {wrong[:5]}"
    assert read_at_kill < len(rest), "the readers finished before the kill; not a mid-way kill"
    m1.lazy_umount()
    assert not m1.mounted

    m2 = mounter(ds.root, cache_dir=m1.cache_dir)
    s0 = m2.stats()
    assert s0["cache"]["recovered_blocks"] > 0, s0["cache"]
    assert s0["cache"]["blocks"] >= 2, s0["cache"]
    # A file fully cached before the kill costs no origin read.
    read_all_verify(m2.mountpoint, ds, rels=["first/whole.bin"])
    s1 = m2.stats()
    assert delta(s0, s1, "origin.bytes") == 0, s1["origin"]
    assert delta(s0, s1, "origin.read_requests") == 0, s1["origin"]
    read_all_verify(m2.mountpoint, ds)
    s2 = m2.settled_stats()
    assert s2["cache"]["checksum_failures"] == 0, "a block from before the kill was torn"
    assert s2["cache"]["blocks"] == ds.nblocks()
    assert s2["origin"]["bytes"] < ds.total_bytes, "recovered blocks were not reused"
    assert disk_usage(m2.cache_dir) <= s2["cache"]["limit_bytes"]


@pytest.mark.parametrize("which", ["small-file block", "middle block of a large file"])
def test_corrupted_block_detected_and_refetched(dataset, mounter, which):
    ds = dataset({"small.jpg": 100 * KiB + 3, "big.bin": 9 * MiB + 5}, seed=35)
    m1 = mounter(ds.root)
    read_all_verify(m1.mountpoint, ds)
    m1.settled_stats()  # no prefetch left in flight
    m1.umount()

    # The small file's block in a block file, the large file's three in one object file.
    assert len(block_files(m1.cache_dir)) == 2, block_files(m1.cache_dir)
    blocks = cached_blocks(m1.cache_dir)
    assert len(blocks) == ds.nblocks() == 4, blocks
    if which == "small-file block":
        expected = ds.files["small.jpg"]
    else:
        expected = ds.files["big.bin"][DEFAULT_BLOCK:2 * DEFAULT_BLOCK]
    victims = [b for b in blocks if b.read() == expected]
    assert len(victims) == 1, "a cache file should hold the block's raw bytes"
    victim = victims[0]
    flip_byte(victim.path, victim.offset + len(expected) // 2, 0x5A)

    m2 = mounter(ds.root, cache_dir=m1.cache_dir)
    read_all_verify(m2.mountpoint, ds)
    s1 = m2.stats()
    assert s1["cache"]["checksum_failures"] == 1, s1["cache"]
    assert s1["origin"]["bytes"] == len(expected), s1["origin"]  # only that block refetched
    # The refetched block is good on disk again: a second read from SSD is clean.
    for rel in ds.files:
        drop_page_cache(m2.mountpoint / rel)
    read_all_verify(m2.mountpoint, ds)
    s2 = m2.stats()
    assert s2["cache"]["checksum_failures"] == 1, s2["cache"]
    assert delta(s1, s2, "origin.bytes") == 0


def _rewrite_same_size(ds, rel: str, seed: int) -> bytes:
    """New bytes, same size, mtime moved 10 s ahead (so the change is seen even at 1 s mtime
    granularity)."""
    path = ds.root / rel
    old = os.stat(path)
    new = random.Random(seed).randbytes(old.st_size)
    assert new != ds.files[rel]
    ds.write(rel, new)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns + 10 * 10**9))
    return new


def test_origin_change_seen_live(dataset, mounter, tmp_path):
    ds = dataset({"a.jpg": 100 * KiB, "big.bin": 9 * MiB + 7, "grow.bin": 1000}, seed=36)
    cfg = tmp_path / "live.yaml"
    cfg.write_text("fuse:\n  attr_timeout: 0\n")
    m = mounter(ds.root, config=cfg)
    read_all_verify(m.mountpoint, ds)
    fd = os.open(m.mountpoint / "big.bin", os.O_RDONLY)
    assert os.pread(fd, 4096, 0) == ds.files["big.bin"][:4096]
    os.close(fd)

    _rewrite_same_size(ds, "a.jpg", seed=1)
    _rewrite_same_size(ds, "big.bin", seed=2)
    ds.write("grow.bin", random.Random(3).randbytes(5 * MiB + 1))
    for _ in range(2):
        read_all_verify(m.mountpoint, ds)
    assert os.stat(m.mountpoint / "grow.bin").st_size == 5 * MiB + 1


def test_origin_change_seen_after_remount(dataset, mounter):
    ds = dataset({"a.jpg": 100 * KiB, "big.bin": 9 * MiB + 7, "same.jpg": 50 * KiB}, seed=37)
    m1 = mounter(ds.root)
    read_all_verify(m1.mountpoint, ds)
    m1.settled_stats()  # no prefetch left in flight
    m1.umount()
    _rewrite_same_size(ds, "a.jpg", seed=4)
    _rewrite_same_size(ds, "big.bin", seed=5)

    m2 = mounter(ds.root, cache_dir=m1.cache_dir)
    read_all_verify(m2.mountpoint, ds)
    s = m2.stats()
    # The changed files came from the origin again; the unchanged one from the cache.
    assert s["origin"]["bytes"] == len(ds.files["a.jpg"]) + len(ds.files["big.bin"]), s["origin"]
