"""Fixtures for tests on real epochfs mounts.

- `dataset(sizes, seed=...)`: writes an origin directory under the test's tmp_path.
- `mounter(source, ...)`: mounts epochfs (mountpoint and cache dir under tmp_path) and returns
  a Mount; every mount it made is unmounted in teardown, pass or fail (epochfs umount, then
  fusermount3 -uz, then SIGKILL of the daemon).
- A per-test watchdog kills the daemons of a test that runs too long, so that reads blocked on
  a hung daemon fail instead of hanging the suite past ctest's timeout (which would leak
  mounts).
- After each test and at session end, no FUSE mount may remain under the session's temp dir.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from epochfs_testlib import (Dataset, Mount, epochfs_bin, force_unmount, fuse_mounts,
                             make_dataset, supervise_mounts)
# The S3 fixtures (a session-wide RGW, s3mounter, proxy), for test_s3*.py; only started by the
# tests that ask for them.
from rgw_fixture import proxy, rgw, s3mounter, unique_bucket  # noqa: E402,F401



def pytest_sessionstart(session):
    try:
        binary = epochfs_bin()
    except RuntimeError as e:
        pytest.exit(str(e), returncode=1)
    if not os.access(binary, os.X_OK):
        pytest.exit(f"EPOCHFS_BIN={binary} is not an executable file", returncode=1)
    if not os.path.exists("/dev/fuse"):
        pytest.exit("/dev/fuse is missing: these tests need real FUSE mounts", returncode=1)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures know in teardown whether the test failed (to print the daemon's log).
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _ours(tmp_root: Path) -> list[str]:
    root = os.path.realpath(tmp_root) + os.sep
    return [m for m in fuse_mounts() if (m + os.sep).startswith(root)]


_test_dirs: list[Path] = []  # every test's tmp_path, for the check at session end


@pytest.fixture(autouse=True)
def _no_leaked_mounts(tmp_path):
    _test_dirs.append(tmp_path)
    yield
    leaked = _ours(tmp_path)
    if leaked:
        for m in leaked:
            force_unmount(m)
        pytest.fail(f"test left FUSE mounts behind: {leaked}")


def pytest_sessionfinish(session, exitstatus):
    leaked = [m for d in _test_dirs for m in _ours(d)]
    if leaked:
        for m in leaked:
            force_unmount(m)
        print(f"\nERROR: FUSE mounts leaked by the session (now unmounted): {leaked}")
        session.exitstatus = 1


@pytest.fixture
def dataset(tmp_path):
    """dataset(sizes: {relpath: size}, seed=1, name="origin") -> Dataset."""

    def make(sizes: dict[str, int], seed: int = 1, name: str = "origin") -> Dataset:
        return make_dataset(tmp_path / name, sizes, seed)

    return make


@pytest.fixture
def mounter(request, tmp_path):
    """mounter(source, cache_dir=None, cache_size="256MiB", args=(), config=None,
    start=True, pass_cache_dir=True) -> Mount. The mount point is tmp_path/mnt-N; the cache
    dir defaults to tmp_path/cache-N; the daemon logs to tmp_path/epochfs-N.log (outside the
    cache dir). cache_size=None or pass_cache_dir=False leave those to the config/defaults."""
    mounts: list[Mount] = []

    def make(source, cache_dir=None, cache_size="256MiB", args=(), config=None,
             start=True, pass_cache_dir=True) -> Mount:
        n = len(mounts)
        m = Mount(source, tmp_path / f"mnt-{n}",
                  cache_dir if cache_dir is not None else tmp_path / f"cache-{n}",
                  tmp_path / f"epochfs-{n}.log", cache_size=cache_size, args=args,
                  config=config, pass_cache_dir=pass_cache_dir)
        mounts.append(m)
        if start:
            m.start()
        return m

    with supervise_mounts(request, mounts):
        yield make


@pytest.fixture
def small_fs(tmp_path):
    """small_fs(size_mib, nr_inodes=None) -> path of a fresh tmpfs of that size (and that many
    inodes), unmounted in teardown."""
    made = []

    def make(size_mib: int, nr_inodes: int | None = None):
        path = tmp_path / f"smallfs-{len(made)}"
        path.mkdir()
        opts = f"size={size_mib}m" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                       check=True, capture_output=True, timeout=30)
        made.append(path)
        return path

    yield make
    for path in made:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
