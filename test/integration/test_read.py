"""Byte-exact reads through a real mount: random offsets and sizes across block boundaries,
cold and warm, pread and read(), mmap, and 16 concurrent readers (threads and processes)."""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
import os
import random
import threading
import time

import pytest

from epochfs_testlib import (DEFAULT_BLOCK, KiB, MiB, delta, drop_page_cache, image_like_sizes,
                             read_all_verify, read_file)

SIZES = {
    "big/a.bin": 10 * MiB + 12345,
    "big/b.bin": 16 * MiB,             # exactly four blocks
    "big/c.bin": 13 * MiB + 7,
    "edge/empty.bin": 0,
    "edge/one.bin": 1,
    "edge/block.bin": DEFAULT_BLOCK,
    "edge/block_minus.bin": DEFAULT_BLOCK - 1,
    "edge/block_plus.bin": DEFAULT_BLOCK + 1,
    **image_like_sizes(150, classes=5, prefix="small/"),
}


def read_plan(rng: random.Random, size: int, block: int = DEFAULT_BLOCK) -> list[tuple[int, int]]:
    """(offset, length) reads: around every block boundary, random ones, and past the end."""
    plan = []
    for b in range(block, size + 1, block):
        r1, r2 = rng.randrange(1, min(300 * KiB, b) + 1), rng.randrange(1, 300 * KiB)
        plan += [(b - r1, r1 + r2), (b - 1, 2), (b, 1), (b - 4096, 8192)]
    n_random = 25 if size > block else 4
    for _ in range(n_random):
        off = rng.randrange(size) if size else 0
        length = rng.choice([1, 4096, 65536, rng.randrange(1, 3 * MiB)])
        plan.append((off, length))
    plan += [(size, 100), (max(size - 10, 0), 100), (size + 5 * MiB, 10), (0, size + 1)]
    rng.shuffle(plan)
    return plan


def check_random_reads(mnt, ds, seed: int, block: int = DEFAULT_BLOCK) -> int:
    """Reads every file with os.pread and with seek()+read() at planned offsets; returns the
    number of reads done. Asserts every byte."""
    rng = random.Random(seed)
    n = 0
    for rel, exp in ds.files.items():
        path = mnt / rel
        fd = os.open(path, os.O_RDONLY)
        try:
            with open(path, "rb", buffering=0) as f:
                for i, (off, length) in enumerate(read_plan(rng, len(exp), block)):
                    if i % 2 == 0:
                        got = os.pread(fd, length, off)
                        how = "pread"
                    else:
                        f.seek(off)
                        got = f.read(length)
                        how = "seek+read"
                    want = exp[off:off + length]
                    assert got == want, (f"{rel}: {how}(off={off}, len={length}) returned "
                                         f"{len(got)} bytes, expected {len(want)}; "
                                         f"equal={got == want}")
                    n += 1
        finally:
            os.close(fd)
    return n


def test_random_reads_cold_then_warm(dataset, mounter):
    ds = dataset(SIZES, seed=11)
    m = mounter(ds.root)
    s0 = m.stats()
    assert s0["cache"]["blocks"] == 0 and s0["origin"]["bytes"] == 0

    # Cold: nothing cached yet.
    check_random_reads(m.mountpoint, ds, seed=1)
    read_all_verify(m.mountpoint, ds)
    s1 = m.settled_stats()
    # Every block was fetched, each exactly once (the cache holds the whole dataset): missed
    # by a read, or prefetched first (listing-driven prefetch, policy.prefetch_listed). A large
    # file found read at random is cut into smaller blocks (cache.random_block_size), from the
    # blocks it had cached: more blocks, the same bytes.
    if s1["cache"]["random_files"] == 0:
        assert s1["cache"]["blocks"] == ds.nblocks(), s1["cache"]
    else:
        assert s1["cache"]["blocks"] > ds.nblocks(), s1["cache"]
    assert s1["origin"]["bytes"] == ds.total_bytes, s1["origin"]
    assert s1["cache"]["misses"] + s1["prefetch"]["prefetched"] >= ds.nblocks(), s1
    assert s1["cache"]["used_bytes"] >= ds.total_bytes
    assert s1["cache"]["used_bytes"] <= s1["cache"]["limit_bytes"]
    assert s1["origin"]["errors"] == 0
    assert s1["cache"]["checksum_failures"] == 0

    # Warm: with the kernel's page cache dropped, every read reaches the daemon and is a hit.
    for rel in ds.files:
        drop_page_cache(m.mountpoint / rel)
    check_random_reads(m.mountpoint, ds, seed=2)
    for rel in ds.files:
        drop_page_cache(m.mountpoint / rel)
    read_all_verify(m.mountpoint, ds)
    s2 = m.stats()
    assert delta(s1, s2, "cache.misses") == 0, s2["cache"]
    assert delta(s1, s2, "origin.bytes") == 0, s2["origin"]
    assert delta(s1, s2, "origin.read_requests") == 0, s2["origin"]
    assert delta(s1, s2, "cache.hits") >= ds.nblocks(), s2["cache"]
    assert delta(s1, s2, "cache.hit_bytes") >= ds.total_bytes, s2["cache"]
    assert s2["cache"]["blocks"] == s1["cache"]["blocks"]


def test_read_in_small_chunks(dataset, mounter):
    ds = dataset({k: v for k, v in SIZES.items() if not k.startswith("small/")}, seed=12)
    m = mounter(ds.root)
    for rel, exp in ds.files.items():
        assert read_file(m.mountpoint / rel, chunk=65536 + 17) == exp, rel


def test_mmap_reads(dataset, mounter):
    ds = dataset({"big/a.bin": 10 * MiB + 12345, "edge/block_plus.bin": DEFAULT_BLOCK + 1,
                  "small/x.jpg": 98765, "small/one.bin": 1}, seed=13)
    m = mounter(ds.root)
    rng = random.Random(3)
    for rel, exp in ds.files.items():
        with open(m.mountpoint / rel, "rb") as f, \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert len(mm) == len(exp)
            for off, length in read_plan(rng, len(exp)):
                assert mm[off:off + length] == exp[off:off + length], (rel, off, length)
            assert mm[:] == exp, rel
    # A second mapping after dropping the page cache faults the pages in again from the cache.
    rel = "big/a.bin"
    drop_page_cache(m.mountpoint / rel)
    with open(m.mountpoint / rel, "rb") as f, \
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        assert hashlib.sha256(mm).digest() == hashlib.sha256(ds.files[rel]).digest()


def _chunks(rng: random.Random, size: int) -> list[tuple[int, int]]:
    """Covers [0, size) with chunks of random sizes, returned in random order."""
    out, off = [], 0
    while off < size:
        n = rng.choice([4096, 128 * KiB, 1 * MiB, rng.randrange(1, 2 * MiB)])
        out.append((off, min(n, size - off)))
        off += n
    rng.shuffle(out)
    return out or [(0, 1)]


def _work_lists(ds, workers: int, seed: int) -> list[list[tuple[str, int, int]]]:
    """Per worker: every big file and the shared small files, whole, chunks in a worker-specific
    order (so misses on the same blocks collide), plus small files of its own."""
    shared = [r for r in ds.files if r.startswith(("big/", "shared/"))]
    own = sorted(r for r in ds.files if r.startswith("own/"))
    lists = []
    for w in range(workers):
        rng = random.Random(seed * 1000 + w)
        files = shared + own[w::workers]
        rng.shuffle(files)
        lists.append([(rel, off, n) for rel in files for off, n in _chunks(rng, len(ds.files[rel]))])
    return lists


CONCURRENT_SIZES = {
    "big/a.bin": 10 * MiB + 12345,
    "big/b.bin": 9 * MiB,
    **image_like_sizes(20, classes=2, prefix="shared/", seed=5),
    **image_like_sizes(64, classes=4, prefix="own/", seed=6),
}


def test_16_concurrent_threads(dataset, mounter):
    ds = dataset(CONCURRENT_SIZES, seed=14)
    m = mounter(ds.root)
    work = _work_lists(ds, 16, seed=7)
    errors: list[str] = []
    start = threading.Barrier(len(work))

    def reader(items):
        try:
            start.wait()
            fds = {}
            for rel, off, n in items:
                if rel not in fds:
                    fds[rel] = os.open(m.mountpoint / rel, os.O_RDONLY)
                got = os.pread(fds[rel], n, off)
                if got != ds.files[rel][off:off + n]:
                    errors.append(f"{rel}@{off}+{n}: wrong bytes ({len(got)} returned)")
                    return
            for fd in fds.values():
                os.close(fd)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=reader, args=(w,)) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    s = m.stats()
    # Concurrent misses on one block share one origin read: every byte came once (also when a
    # large file is found read at random and cut into smaller blocks meanwhile).
    assert s["origin"]["bytes"] == ds.total_bytes, s
    if s["cache"]["random_files"] == 0:
        assert s["cache"]["blocks"] == ds.nblocks(), s["cache"]
    assert s["origin"]["errors"] == 0


def _process_reader(args):
    mountpoint, items = args
    out = []
    fds = {}
    for rel, off, n in items:
        if rel not in fds:
            fds[rel] = os.open(os.path.join(mountpoint, rel), os.O_RDONLY)
        out.append(hashlib.sha256(os.pread(fds[rel], n, off)).hexdigest())
    for fd in fds.values():
        os.close(fd)
    return out


def test_16_concurrent_processes(dataset, mounter):
    ds = dataset(CONCURRENT_SIZES, seed=15)
    m = mounter(ds.root)
    work = _work_lists(ds, 16, seed=8)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(16) as pool:
        results = pool.map(_process_reader, [(str(m.mountpoint), w) for w in work], chunksize=1)
    for items, digests in zip(work, results):
        for (rel, off, n), got in zip(items, digests):
            want = hashlib.sha256(ds.files[rel][off:off + n]).hexdigest()
            assert got == want, f"{rel}@{off}+{n}: wrong bytes"
    s = m.stats()
    assert s["origin"]["bytes"] == ds.total_bytes, s
    if s["cache"]["random_files"] == 0:  # else cut into smaller blocks: see the threads' test
        assert s["cache"]["blocks"] == ds.nblocks(), s["cache"]


@pytest.mark.parametrize("block_size", ["1MiB", "64KiB"])
def test_other_block_sizes(dataset, mounter, block_size):
    ds = dataset({"big/a.bin": 3 * MiB + 999, **image_like_sizes(10, prefix="s/")}, seed=16)
    m = mounter(ds.root, args=["--block-size", block_size])
    bs = {"1MiB": MiB, "64KiB": 64 * KiB}[block_size]
    check_random_reads(m.mountpoint, ds, seed=4, block=bs)
    read_all_verify(m.mountpoint, ds)
    s = m.stats()
    assert s["cache"]["blocks"] == ds.nblocks(bs), s["cache"]
    assert s["origin"]["bytes"] == ds.total_bytes


def _read_ahead_kb(mountpoint) -> str:
    dev = os.stat(mountpoint).st_dev
    with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb") as f:
        return f.read().strip()


def _wait_read_ahead(mountpoint, want: str) -> str:
    # Set by the daemon just after the mount is up, beside serving requests.
    deadline = time.monotonic() + 10
    got = _read_ahead_kb(mountpoint)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = _read_ahead_kb(mountpoint)
    return got


def test_kernel_read_ahead_follows_fuse_read_ahead(dataset, mounter, tmp_path):
    ds = dataset({"a.bin": 3 * MiB}, seed=13)
    m = mounter(ds.root)
    assert _wait_read_ahead(m.mountpoint, "4096") == "4096", "default fuse.read_ahead: 4MiB"
    cfg = tmp_path / "ra.yaml"
    cfg.write_text("fuse:\n  read_ahead: 1MiB\n")
    m2 = mounter(ds.root, config=cfg)
    assert _wait_read_ahead(m2.mountpoint, "1024") == "1024"
    assert read_file(m2.mountpoint / "a.bin") == ds.files["a.bin"]
    cfg.write_text("fuse:\n  read_ahead: 0\n")
    m3 = mounter(ds.root, config=cfg)
    time.sleep(0.3)
    assert _read_ahead_kb(m3.mountpoint) == "128", "0 keeps the kernel's default"
