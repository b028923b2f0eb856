"""Mounts that must be refused before a daemon starts (a mountpoint overlapping the source, a
cache dir reached through a symlink into the source or the mount, a non-empty mountpoint, a
second mount of one mountpoint), and what a running mount reports about itself (statfs, the
reserved .epochfs name, open() after the origin changed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from epochfs_testlib import (CMD_TIMEOUT, KiB, daemon_pids_for, epochfs_bin, force_unmount,
                             fuse_mounts, is_mounted, read_stats, run_cli)


def refused(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0, f"mount succeeded but should be refused: {res.stdout}"
    for n in needles:
        assert n in res.stderr, f"{n!r} not in the error:\n{res.stderr}"


def mount_cmd(source, mnt, cache, log, *extra) -> list[str]:
    return ["mount", str(source), str(mnt), "--cache-dir", str(cache), "--log-file", str(log),
            "--cache-size", "64MiB", *map(str, extra)]


def try_mount(source, mnt, cache, log, *extra) -> subprocess.CompletedProcess:
    """A mount that should be refused. Should it mount after all (the test then fails), it is
    unmounted first, so that a failing test leaves no mount (a mount over its own source
    would hang every later test that touched it)."""
    res = run_cli(*mount_cmd(source, mnt, cache, log, *extra))
    if res.returncode == 0:
        force_unmount(mnt)
    return res


# --- F3: the mountpoint and a directory source must not overlap -----------------------------


def test_mountpoint_equal_to_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    res = try_mount(ds.root, ds.root, tmp_path / "cache", tmp_path / "log")
    refused(res, f"'{ds.root}' is origin.source '{ds.root}'", "deadlock")
    assert not is_mounted(ds.root)
    assert not daemon_pids_for(ds.root)


def test_mountpoint_reached_through_a_symlink_to_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    link = tmp_path / "link"
    link.symlink_to(ds.root)
    res = try_mount(ds.root, link, tmp_path / "cache", tmp_path / "log")
    refused(res, f"'{link}' (resolved: '{ds.root}') is origin.source")
    assert not is_mounted(ds.root) and not is_mounted(link)


def test_mountpoint_inside_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    inner = ds.root / "mnt"
    inner.mkdir()
    res = try_mount(ds.root, inner, tmp_path / "cache", tmp_path / "log")
    refused(res, f"MOUNTPOINT: '{inner}' is inside origin.source '{ds.root}'", "endless tree")
    assert not is_mounted(inner)


def test_source_inside_the_mountpoint_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    outer = ds.root.parent
    res = try_mount(ds.root, outer, tmp_path / "cache", tmp_path / "log")
    # The cache dir is inside that mountpoint too: both are named.
    refused(res, f"origin.source: '{ds.root}' is inside the mountpoint '{outer}'", "hide it")
    assert not is_mounted(outer)


# --- F4: the cache dir, symlinks followed, outside the source and the mount ----------------


def test_cache_dir_through_a_symlink_into_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    (ds.root / "blocks").mkdir()
    link = tmp_path / "ssd"
    link.symlink_to(ds.root / "blocks")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = try_mount(ds.root, mnt, link, tmp_path / "log")
    refused(res, f"cache.dir: '{link}' (resolved: '{ds.root / 'blocks'}') is inside "
                 f"origin.source '{ds.root}'")
    assert not is_mounted(mnt)
    assert list((ds.root / "blocks").iterdir()) == [], "the refused mount wrote to the source"


def test_cache_dir_through_a_symlink_into_the_mountpoint_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    link = tmp_path / "ssd"
    link.symlink_to(mnt)
    res = try_mount(ds.root, mnt, link / "cache", tmp_path / "log")
    refused(res, f"cache.dir: '{link / 'cache'}' (resolved: '{mnt / 'cache'}') is inside the "
                 f"mountpoint '{mnt}'")
    assert not is_mounted(mnt)


# --- a non-empty mountpoint needs --nonempty -----------------------------------------------


def test_non_empty_mountpoint_is_refused_naming_it_and_the_override(dataset, mounter):
    ds = dataset({"a.bin": 10 * KiB})
    m = mounter(ds.root, start=False)
    m.mountpoint.mkdir(parents=True)
    (m.mountpoint / "notes.txt").write_text("mine")
    (m.mountpoint / "b-dir").mkdir()
    res = m.start(expect_ok=False)
    refused(res, f"mountpoint {m.mountpoint} is not empty (it holds 'b-dir' and 1 more entry)",
            "--nonempty", "fuse.nonempty")
    assert not m.mounted
    assert (m.mountpoint / "notes.txt").read_text() == "mine"
    # Refused before the fork: the command was the only holder, and removed its lock file.
    assert not any(str(m.mountpoint) in f.read_text() for f in Path("/run/epochfs").glob("*"))


def test_nonempty_flag_mounts_over_files_and_umount_shows_them_again(dataset, mounter):
    ds = dataset({"a.bin": 10 * KiB})
    m = mounter(ds.root, start=False, args=["--nonempty"])
    m.mountpoint.mkdir(parents=True)
    (m.mountpoint / "hidden.txt").write_text("mine")
    m.start()
    assert sorted(os.listdir(m.mountpoint)) == ["a.bin"]
    m.umount()
    assert (m.mountpoint / "hidden.txt").read_text() == "mine"


def test_nonempty_config_key(dataset, mounter, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("fuse:\n  nonempty: true\n")
    m = mounter(ds.root, start=False, config=cfg)
    m.mountpoint.mkdir(parents=True)
    (m.mountpoint / "hidden.txt").write_text("mine")
    m.start()
    assert sorted(os.listdir(m.mountpoint)) == ["a.bin"]


# --- F11: one mount per mountpoint, even when two start at once ----------------------------


def mounts_at(path) -> int:
    return fuse_mounts().count(os.path.realpath(path))


def test_concurrent_mounts_of_one_mountpoint_exactly_one_wins(dataset, mounter):
    ds = dataset({"a.bin": 10 * KiB})
    for round_ in range(6):
        first = mounter(ds.root, start=False)
        second = mounter(ds.root, start=False)
        second.mountpoint = first.mountpoint  # distinct cache dirs: only the mountpoint is shared
        first.mountpoint.mkdir(parents=True)
        procs = [subprocess.Popen([epochfs_bin(), *map(str, m.command())], text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL) for m in (first, second)]
        results = [p.communicate(timeout=CMD_TIMEOUT) for p in procs]
        codes = [p.returncode for p in procs]
        assert sorted(codes) == [0, 1], f"round {round_}: exit codes {codes}, {results}"
        loser_err = results[codes.index(1)][1]
        assert (f"mountpoint {first.mountpoint} is already mounted or being mounted by epochfs"
                in loser_err), loser_err
        assert mounts_at(first.mountpoint) == 1, f"round {round_}: stacked mounts"
        winner = (first, second)[codes.index(0)]
        winner.pid = int(read_stats(first.mountpoint)["pid"])
        assert len(daemon_pids_for(first.mountpoint)) == 1
        winner.umount()
        assert mounts_at(first.mountpoint) == 0


def test_second_mount_names_the_daemon_holding_the_mountpoint(dataset, mounter):
    ds = dataset({"a.bin": 10 * KiB})
    first = mounter(ds.root)
    second = mounter(ds.root, start=False)
    second.mountpoint = first.mountpoint
    res = second.start(expect_ok=False)
    refused(res, f"already mounted or being mounted by epochfs (pid {first.pid};")
    lock_file = Path(res.stderr.rsplit("; lock ", 1)[1].split(")")[0])
    assert lock_file.is_file() and lock_file.read_text().split("\n")[0] == str(first.pid)
    assert mounts_at(first.mountpoint) == 1
    first.umount()
    assert not lock_file.exists(), "a clean exit removes the lock file"
    # The lock went with the daemon: the mountpoint can be mounted again.
    second.start()
    assert second.pid != first.pid


# --- statfs: free inodes --------------------------------------------------------------------


def test_statfs_reports_free_inodes(dataset, mounter):
    ds = dataset({f"d/f{i}.bin": KiB for i in range(20)})
    m = mounter(ds.root)
    os.listdir(m.mountpoint / "d")
    st = os.statvfs(m.mountpoint)
    assert st.f_ffree > 0 and st.f_favail == st.f_ffree, st
    used = st.f_files - st.f_ffree
    assert 0 < used < st.f_ffree, f"{used} inodes used of {st.f_files}: df -i would alarm"
    assert st.f_blocks * st.f_frsize == 256 * 1024 * 1024  # the cache size, as before


# --- F9: .epochfs at the origin's root never hides the control directory ------------------


@pytest.mark.parametrize("shape", ["dir", "file"])
def test_origin_entry_named_epochfs_is_hidden(dataset, mounter, shape):
    rel = ".epochfs/stats" if shape == "dir" else ".epochfs"
    ds = dataset({"a.bin": KiB, rel: 100})
    m = mounter(ds.root)
    for _ in range(2):
        ls = subprocess.run(["ls", "-la", str(m.mountpoint)], capture_output=True, text=True,
                            timeout=CMD_TIMEOUT, check=True)
        assert ".epochfs" not in ls.stdout, ls.stdout
        assert sorted(os.listdir(m.mountpoint)) == ["a.bin"]
        assert read_stats(m.mountpoint)["pid"] == m.pid
        assert os.path.isdir(m.mountpoint / ".epochfs")
        res = run_cli("stats", m.mountpoint, "--json")
        assert res.returncode == 0, res.stderr
    assert "reserved for the control directory" in m.log_file.read_text()


# --- F10: open() after the file grew at the origin reads all of it -------------------------


def test_reopen_after_the_origin_file_grew_reads_the_new_length(dataset, mounter):
    ds = dataset({"grow.bin": 10 * KiB})
    m = mounter(ds.root)  # default attr_timeout (60 s): the kernel would trust the old size
    path = m.mountpoint / "grow.bin"
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.read(fd, 1 << 20) == ds.files["grow.bin"]
    finally:
        os.close(fd)
    grown = ds.files["grow.bin"] + os.urandom(50 * KiB)
    with open(ds.root / "grow.bin", "ab") as f:
        f.write(grown[10 * KiB:])
    fd = os.open(path, os.O_RDONLY)
    try:
        got = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    assert len(got) == len(grown), f"read {len(got)} bytes of {len(grown)}"
    assert got == grown
    assert os.stat(path).st_size == len(grown)
    dd = subprocess.run(["dd", f"if={path}", "bs=1M", "status=none"], capture_output=True,
                        timeout=CMD_TIMEOUT, check=True)
    assert dd.stdout == grown
