"""The cache dir is private to the daemon's user: another local user cannot read a cached
block of a 0600 origin file, whatever the umask."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from epochfs_testlib import KiB, block_files, read_file


def _as_nobody_can_read(path) -> bool:
    nobody = pwd.getpwnam("nobody")

    def drop():
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    probe = "import sys\ntry:\n    open(sys.argv[1], 'rb').read(1)\nexcept PermissionError:\n" \
            "    sys.exit(3)\n"
    res = subprocess.run([sys.executable, "-c", probe, str(path)], preexec_fn=drop,
                         capture_output=True, timeout=30)
    assert res.returncode in (0, 3), res.stderr
    return res.returncode == 0


@pytest.fixture
def public_base():
    """A 0755 dir under /tmp (pytest's tmp dirs are 0700, which would hide what the cache
    dir's own modes do); removed after the mounts are gone (request it before `mounter`)."""
    base = tempfile.mkdtemp(prefix="epochfs-privacy-", dir="/tmp")
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_another_user_cannot_read_cached_blocks(public_base, dataset, mounter):
    ds = dataset({"secret.bin": 64 * KiB}, seed=5)
    os.chmod(ds.root / "secret.bin", 0o600)
    base = public_base
    old = os.umask(0o022)
    try:
        m = mounter(ds.root, cache_dir=os.path.join(base, "cache"), args=["--log-level", "info"])
        assert read_file(m.mountpoint / "secret.bin") == ds.files["secret.bin"]
        blocks = block_files(m.cache_dir)
        assert blocks, "the file was not cached"
        # The check is meaningful: nobody can read a world-readable file beside the cache dir.
        probe = os.path.join(base, "world-readable")
        with open(probe, "wb") as f:
            f.write(b"x")
        os.chmod(probe, 0o644)
        assert _as_nobody_can_read(probe)
        for b in blocks:
            assert not _as_nobody_can_read(b), f"{b} is readable by nobody"
        assert stat.S_IMODE(os.stat(m.cache_dir).st_mode) == 0o700
        for root, dirs, files in os.walk(m.cache_dir):
            for d in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700, d
        assert stat.S_IMODE(os.stat(m.log_file).st_mode) == 0o600
        m.umount()
    finally:
        os.umask(old)
