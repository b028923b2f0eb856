"""FUSE passthrough on real mounts: files the cache holds whole are read by the kernel from the
cache file itself (no READ reaches the daemon), right through read() and mmap(); a corrupted
cache file is caught before the handoff; a file evicted while open stays readable and keeps its
space counted; `off`, `on`, and `auto` where the daemon lacks CAP_SYS_ADMIN; the request
counters."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from epochfs_testlib import (DEFAULT_BLOCK, KiB, MiB, block_files, cached_blocks, delta,
                             disk_usage, drop_page_cache, epochfs_bin, flip_byte, force_unmount,
                             is_mounted, read_all_verify, stats_overhead, wait_until)


def requests(stats: dict) -> dict:
    return stats["fuse"]["requests"]


def req_delta(before: dict, after: dict, op: str) -> int:
    return requests(after)[op] - requests(before)[op]


def read_mmap(path: Path) -> bytes:
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            return m[:]


def warm(mount, ds) -> None:
    """Every file cached (read once), no prefetch left in flight, page cache dropped."""
    read_all_verify(mount.mountpoint, ds)
    mount.settled_stats()
    for rel in ds.files:
        drop_page_cache(mount.mountpoint / rel)


def test_cached_files_are_read_by_the_kernel_with_no_read_request(dataset, mounter):
    small = {f"img/{i:03d}.jpg": 90 * KiB + 1777 * i for i in range(24)}
    ds = dataset({**small, "shard.tar": 9 * MiB + 11}, seed=71)
    m = mounter(ds.root)
    assert m.stats()["fuse"]["passthrough"]["active"] is True, m.stats()["fuse"]
    warm(m, ds)
    overhead = stats_overhead(m, "read")
    assert overhead <= 2

    before = m.stats()
    for rel, data in small.items():
        assert (m.mountpoint / rel).read_bytes() == ds.files[rel], rel
    mid = m.stats()
    # No READ reached the daemon for any of them: only the stats file's own.
    assert req_delta(before, mid, "read") == overhead, requests(mid)
    assert req_delta(before, mid, "open") == len(small) + 1, requests(mid)  # +1: the stats file
    p0, p1 = before["fuse"]["passthrough"], mid["fuse"]["passthrough"]
    assert p1["opens"] - p0["opens"] == len(small)
    assert p1["verified_bytes"] - p0["verified_bytes"] == sum(len(ds.files[r]) for r in small)
    assert mid["cache"]["hits"] - before["cache"]["hits"] == len(small)  # one per open

    # mmap is served from the cache file too.
    for rel in list(small)[:6]:
        drop_page_cache(m.mountpoint / rel)
        assert read_mmap(m.mountpoint / rel) == ds.files[rel], rel
    after_mmap = m.stats()
    assert req_delta(mid, after_mmap, "read") == overhead, requests(after_mmap)

    # A file of many blocks is handed out whole too, from its object file (the blocks of
    # that version in one sparse file), verified in full first.
    before_big = m.stats()
    assert (m.mountpoint / "shard.tar").read_bytes() == ds.files["shard.tar"]
    after_big = m.stats()
    assert req_delta(before_big, after_big, "read") == overhead, requests(after_big)
    pb0, pb1 = before_big["fuse"]["passthrough"], after_big["fuse"]["passthrough"]
    assert pb1["opens"] - pb0["opens"] == 1
    assert pb1["verified_bytes"] - pb0["verified_bytes"] == len(ds.files["shard.tar"])
    assert pb1["too_large"] == pb0["too_large"]
    assert delta(before_big, after_big, "cache.hits") == 3  # one per block
    # All released: no backing file left registered, nothing held.
    assert wait_until(lambda: m.stats()["fuse"]["passthrough"]["backing_files"] == 0, 10)
    assert m.stats()["fuse"]["passthrough"]["held"] == 0


def test_concurrent_opens_of_one_file_share_its_backing_file(dataset, mounter):
    ds = dataset({"a.bin": 300 * KiB + 5}, seed=72)
    m = mounter(ds.root)
    warm(m, ds)
    path = m.mountpoint / "a.bin"
    handles = [open(path, "rb") for _ in range(5)]
    try:
        s = m.stats()["fuse"]["passthrough"]
        assert s["backing_files"] == 1, s
        for h in handles:
            assert h.read() == ds.files["a.bin"]
    finally:
        for h in handles:
            h.close()
    assert wait_until(lambda: m.stats()["fuse"]["passthrough"]["backing_files"] == 0, 10)


def test_a_corrupted_cache_file_is_caught_before_the_handoff(dataset, mounter):
    ds = dataset({"x.jpg": 200 * KiB + 9, "y.jpg": 150 * KiB}, seed=73)
    m = mounter(ds.root)
    warm(m, ds)
    victim = next(p for p in block_files(m.cache_dir) if p.read_bytes() == ds.files["x.jpg"])
    flip_byte(victim, 123_456)
    before = m.stats()
    assert (m.mountpoint / "x.jpg").read_bytes() == ds.files["x.jpg"]
    after = m.stats()
    assert after["fuse"]["passthrough"]["corrupt"] == before["fuse"]["passthrough"]["corrupt"] + 1
    assert after["cache"]["checksum_failures"] == before["cache"]["checksum_failures"] + 1
    assert req_delta(before, after, "read") >= 1  # taken the FUSE path, refetched
    assert after["origin"]["bytes"] - before["origin"]["bytes"] == len(ds.files["x.jpg"])
    # Refetched and cached again: the next open is handed to the kernel.
    drop_page_cache(m.mountpoint / "x.jpg")
    opens = m.stats()["fuse"]["passthrough"]["opens"]
    assert (m.mountpoint / "x.jpg").read_bytes() == ds.files["x.jpg"]
    assert m.stats()["fuse"]["passthrough"]["opens"] == opens + 1


def test_a_corrupt_block_of_a_large_file_is_caught_and_only_it_refetched(dataset, mounter):
    ds = dataset({"big.bin": 3 * DEFAULT_BLOCK + 77}, seed=77)
    m = mounter(ds.root)
    warm(m, ds)
    middle = ds.files["big.bin"][DEFAULT_BLOCK:2 * DEFAULT_BLOCK]
    [victim] = [b for b in cached_blocks(m.cache_dir) if b.read() == middle]
    flip_byte(victim.path, victim.offset + 4321, 0x10)
    before = m.stats()
    assert (m.mountpoint / "big.bin").read_bytes() == ds.files["big.bin"]
    after = m.stats()
    assert after["fuse"]["passthrough"]["corrupt"] == before["fuse"]["passthrough"]["corrupt"] + 1
    assert after["cache"]["checksum_failures"] == before["cache"]["checksum_failures"] + 1
    assert delta(before, after, "origin.bytes") == DEFAULT_BLOCK, after["origin"]  # that block
    # Whole again in its object file: the next open is handed to the kernel.
    m.settled_stats()
    drop_page_cache(m.mountpoint / "big.bin")
    opens = m.stats()["fuse"]["passthrough"]["opens"]
    assert (m.mountpoint / "big.bin").read_bytes() == ds.files["big.bin"]
    assert m.stats()["fuse"]["passthrough"]["opens"] == opens + 1
    assert len(block_files(m.cache_dir)) == 1


def test_a_file_evicted_while_open_stays_readable_and_counted(dataset, mounter):
    files = {f"f{i:02d}.bin": 1 * MiB + 7 * i for i in range(40)}  # 40 MiB through a 16 MiB cache
    ds = dataset(files, seed=74)
    m = mounter(ds.root, cache_size="16MiB", args=["--prefetch-threads", "0"])
    first = "f00.bin"
    assert (m.mountpoint / first).read_bytes() == ds.files[first]
    drop_page_cache(m.mountpoint / first)
    held = open(m.mountpoint / first, "rb")
    try:
        s = m.stats()
        assert s["fuse"]["passthrough"]["backing_files"] == 1, s["fuse"]
        for rel in list(files)[1:]:
            assert (m.mountpoint / rel).read_bytes() == ds.files[rel], rel
        s = m.stats()
        # Read this epoch, f00 was among the first victims: unlinked, still held by the kernel.
        assert s["cache"]["evictions"] > 0
        assert s["fuse"]["passthrough"]["held_evicted_bytes"] >= 1 * MiB, s["fuse"]
        assert s["cache"]["used_bytes"] <= s["cache"]["limit_bytes"], s["cache"]
        assert held.read() == ds.files[first]
        overhead = stats_overhead(m, "read")
        before = m.stats()
        held.seek(0)
        assert held.read() == ds.files[first]
        assert req_delta(before, m.stats(), "read") == overhead  # none of f00's
    finally:
        held.close()
    assert wait_until(
        lambda: m.stats()["fuse"]["passthrough"]["held_evicted_bytes"] == 0, 10), m.stats()["fuse"]


def test_blocks_of_a_large_file_evicted_while_open_stay_readable_until_closed(dataset, mounter):
    # Files of three 1 MiB blocks, 40 MiB through a 16 MiB cache: the first one's blocks are
    # evicted while the kernel reads it; their ranges are punched out only once it is closed.
    files = {f"s{i:02d}.tar": 3 * MiB - 1000 * i for i in range(14)}
    ds = dataset(files, seed=78)
    m = mounter(ds.root, cache_size="16MiB", args=["--prefetch-threads", "0", "--block-size", "1MiB"])
    first = "s00.tar"
    assert (m.mountpoint / first).read_bytes() == ds.files[first]
    drop_page_cache(m.mountpoint / first)
    held = open(m.mountpoint / first, "rb")
    try:
        assert m.stats()["fuse"]["passthrough"]["backing_files"] == 1
        for rel in list(files)[1:]:
            assert (m.mountpoint / rel).read_bytes() == ds.files[rel], rel
        s = m.stats()
        assert s["cache"]["evictions"] > 0
        assert s["fuse"]["passthrough"]["held_evicted_bytes"] >= 1 * MiB, s["fuse"]
        assert s["cache"]["used_bytes"] <= s["cache"]["limit_bytes"], s["cache"]
        overhead = stats_overhead(m, "read")
        before = m.stats()
        assert held.read() == ds.files[first]
        assert req_delta(before, m.stats(), "read") == overhead  # none of s00's
    finally:
        held.close()
    assert wait_until(
        lambda: m.stats()["fuse"]["passthrough"]["held_evicted_bytes"] == 0, 10), m.stats()["fuse"]
    s = m.settled_stats()
    # Once released, disk and the books agree: the punched ranges are free again.
    assert len(cached_blocks(m.cache_dir, MiB)) == s["cache"]["blocks"], s["cache"]
    assert disk_usage(m.cache_dir) <= s["cache"]["limit_bytes"]
    read_all_verify(m.mountpoint, ds)


def test_off_reads_everything_through_fuse(dataset, mounter):
    ds = dataset({"a.jpg": 100 * KiB, "b.jpg": 120 * KiB}, seed=75)
    m = mounter(ds.root, args=["--passthrough", "off"])
    p = m.stats()["fuse"]["passthrough"]
    assert p["active"] is False and p["reason"] == "fuse.passthrough is off", p
    warm(m, ds)
    before = m.stats()
    read_all_verify(m.mountpoint, ds)
    after = m.stats()
    assert req_delta(before, after, "read") >= 2
    assert after["fuse"]["passthrough"]["opens"] == 0


def test_on_mounts_where_passthrough_works(dataset, mounter):
    ds = dataset({"a.jpg": 100 * KiB}, seed=76)
    m = mounter(ds.root, args=["--passthrough", "on"])
    assert m.stats()["fuse"]["passthrough"]["active"] is True


class Unprivileged:
    """A mount made by user nobody through fusermount3: a daemon without CAP_SYS_ADMIN."""

    def __init__(self, ds_root: Path):
        self.top = Path(tempfile.mkdtemp(prefix="epochfs-nocap-", dir="/tmp"))
        os.chmod(self.top, 0o755)
        self.src = self.top / "src"
        shutil.copytree(ds_root, self.src)
        self.mnt = self.top / "mnt"
        self.cache = self.top / "cache"
        self.mnt.mkdir()
        for p in [self.top, self.mnt, *self.src.rglob("*"), self.src]:
            os.chown(p, 65534, 65534)
        self.log = self.top / "epochfs.log"
        # A copy nobody can run wherever the checkout is (its parents may be 0700).
        self.bin = self.top / "epochfs"
        shutil.copy(epochfs_bin(), self.bin)
        os.chmod(self.bin, 0o755)

    def mount(self, *args) -> subprocess.CompletedProcess:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
               str(self.bin), "mount", str(self.src), str(self.mnt), "--cache-dir",
               str(self.cache), "--cache-size", "64MiB", "--log-file", str(self.log), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def run(self, code: str) -> str:
        """Runs Python `code` as nobody (only the mounting user can reach a mount made without
        allow_other, root included) and returns what it printed."""
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "--", "/usr/bin/python3", "-c", code], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def stats(self) -> dict:
        return json.loads(self.run(f"print(open({str(self.mnt / '.epochfs/stats')!r}).read())"))

    def same_bytes(self, name: str) -> bool:
        return self.run(f"print(open({str(self.mnt / name)!r}, 'rb').read() == "
                        f"open({str(self.src / name)!r}, 'rb').read())").strip() == "True"

    def cleanup(self) -> None:
        # Not os.path.ismount: root is denied a stat of another user's FUSE mount.
        if is_mounted(self.mnt):
            subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                            str(self.bin), "umount", str(self.mnt)], capture_output=True,
                           timeout=60)
        if is_mounted(self.mnt):
            force_unmount(self.mnt)
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def unprivileged(dataset):
    # Debian makes /dev/fuse 0666 (users mount through fusermount3); a container may not.
    mode = os.stat("/dev/fuse").st_mode & 0o777
    if mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", mode | 0o666)
    made = []

    def make(files):
        u = Unprivileged(dataset(files, seed=77).root)
        made.append(u)
        return u

    yield make
    for u in made:
        u.cleanup()
    os.chmod("/dev/fuse", mode)


def test_auto_without_cap_sys_admin_reads_through_fuse(unprivileged):
    u = unprivileged({"a.jpg": 100 * KiB + 1, "b.jpg": 64 * KiB})
    res = u.mount()
    assert res.returncode == 0, res.stderr + (u.log.read_text() if u.log.exists() else "")
    p = u.stats()["fuse"]["passthrough"]
    assert p["active"] is False and "CAP_SYS_ADMIN" in p["reason"], p
    assert "CAP_SYS_ADMIN" in u.log.read_text()  # the one log line saying why
    for name in ("a.jpg", "b.jpg"):
        assert u.same_bytes(name)  # cold
        assert u.same_bytes(name)  # cached, through FUSE
    s = u.stats()
    assert s["fuse"]["requests"]["read"] >= 2 and s["fuse"]["passthrough"]["opens"] == 0, s["fuse"]


def test_on_without_cap_sys_admin_fails_the_mount_naming_why(unprivileged):
    u = unprivileged({"a.jpg": 100 * KiB})
    res = u.mount("--passthrough", "on")
    assert res.returncode != 0
    assert "fuse.passthrough is on" in res.stderr and "CAP_SYS_ADMIN" in res.stderr, res.stderr
    assert not is_mounted(u.mnt)


def test_bad_passthrough_value_is_refused(dataset, mounter):
    ds = dataset({"a.jpg": 10 * KiB}, seed=78)
    m = mounter(ds.root, args=["--passthrough", "maybe"], start=False)
    res = m.start(expect_ok=False)
    assert res.returncode != 0
    assert "--passthrough" in res.stderr and "auto, on, off" in res.stderr, res.stderr


def test_verify_once_hands_out_later_opens_unchecked(dataset, mounter):
    ds = dataset({"a.jpg": 100 * KiB + 3, "s.tar": 2 * DEFAULT_BLOCK + 5}, seed=79)
    m = mounter(ds.root, args=["--passthrough-verify", "once"])
    warm(m, ds)
    read_all_verify(m.mountpoint, ds)  # cached by now: handed out (the first time, verified)
    p1 = m.stats()["fuse"]["passthrough"]
    assert p1["opens"] >= 2, p1
    assert p1["verified_bytes"] == ds.total_bytes, "each file verified exactly once"
    assert p1["verified_earlier"] == p1["opens"] - 2, p1
    for rel in ds.files:
        drop_page_cache(m.mountpoint / rel)
    read_all_verify(m.mountpoint, ds)  # later hand-outs: trusted
    p2 = m.stats()["fuse"]["passthrough"]
    assert p2["opens"] - p1["opens"] >= 2
    assert p2["verified_earlier"] - p1["verified_earlier"] == p2["opens"] - p1["opens"], p2
    assert p2["verified_bytes"] == p1["verified_bytes"]


def test_bad_passthrough_verify_value_is_refused(dataset, mounter):
    ds = dataset({"a.jpg": 10 * KiB}, seed=80)
    m = mounter(ds.root, args=["--passthrough-verify", "never"], start=False)
    res = m.start(expect_ok=False)
    assert res.returncode != 0
    assert "--passthrough-verify" in res.stderr and "open, once" in res.stderr, res.stderr
