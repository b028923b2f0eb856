"""Mounts that must be refused before a daemon starts (a mountpoint overlapping the source, a
cache dir reached through a symlink into the source or the mount, a non-empty mountpoint, a
second mount of one mountpoint), and what a running mount reports about itself (statfs, the
reserved .epochfs name, open() after the origin changed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from epochfs_testlib import (CMD_TIMEOUT, KiB, daemon_pids_for, epochfs_bin, fuse_mounts,
                             is_mounted, read_stats, run_cli)


def refused(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0, f"mount succeeded but should be refused: {res.stdout}"
    for n in needles:
        assert n in res.stderr, f"{n!r} not in the error:\n{res.stderr}"


def mount_cmd(source, mnt, cache, log, *extra) -> list[str]:
    return ["mount", str(source), str(mnt), "--cache-dir", str(cache), "--log-file", str(log),
            "--cache-size", "64MiB", *map(str, extra)]


# --- F3: the mountpoint and a directory source must not overlap -----------------------------


def test_mountpoint_equal_to_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    res = run_cli(*mount_cmd(ds.root, ds.root, tmp_path / "cache", tmp_path / "log"))
    refused(res, f"'{ds.root}' is origin.source '{ds.root}'", "deadlock")
    assert not is_mounted(ds.root)
    assert not daemon_pids_for(ds.root)


def test_mountpoint_reached_through_a_symlink_to_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    link = tmp_path / "link"
    link.symlink_to(ds.root)
    res = run_cli(*mount_cmd(ds.root, link, tmp_path / "cache", tmp_path / "log"))
    refused(res, f"'{link}' (resolved: '{ds.root}') is origin.source")
    assert not is_mounted(ds.root) and not is_mounted(link)


def test_mountpoint_inside_the_source_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    inner = ds.root / "mnt"
    inner.mkdir()
    res = run_cli(*mount_cmd(ds.root, inner, tmp_path / "cache", tmp_path / "log"))
    refused(res, f"MOUNTPOINT: '{inner}' is inside origin.source '{ds.root}'", "endless tree")
    assert not is_mounted(inner)


def test_source_inside_the_mountpoint_is_refused(dataset, tmp_path):
    ds = dataset({"a.bin": 10 * KiB})
    outer = ds.root.parent
    res = run_cli(*mount_cmd(ds.root, outer, tmp_path / "cache", tmp_path / "log"))
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
    res = run_cli(*mount_cmd(ds.root, mnt, link, tmp_path / "log"))
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
    res = run_cli(*mount_cmd(ds.root, mnt, link / "cache", tmp_path / "log"))
    refused(res, f"cache.dir: '{link / 'cache'}' (resolved: '{mnt / 'cache'}') is inside the "
                 f"mountpoint '{mnt}'")
    assert not is_mounted(mnt)
