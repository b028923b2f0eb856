"""A broken cache dir or log dir through real mounts: block writes that fail (a cache
filesystem out of inodes) must not turn the prefetchers into an endless origin download, and
reads must still return the right bytes; a log rotation that cannot create its new file must
not crash the daemon."""

from __future__ import annotations

import os
import subprocess

from epochfs_testlib import (KiB, MiB, epochfs_bin, is_mounted, read_all_verify, read_file,
                             run_cli, wait_until)


def test_cache_fs_out_of_inodes_does_not_download_forever(dataset, mounter, small_fs):
    ds = dataset({f"d/f{i:03d}": 8 * KiB + i for i in range(300)}, seed=7)
    fs = small_fs(64, 40)  # bytes to spare, inodes for about a dozen blocks
    m = mounter(ds.root, cache_dir=fs / "cache", cache_size="48MiB",
                args=["--min-free", "0"])  # default policy and prefetch
    names = sorted(os.listdir(m.mountpoint / "d"))  # listing-driven prefetch starts
    assert len(names) == 300
    for rel in [f"d/{n}" for n in names[:5]]:
        assert read_file(m.mountpoint / rel) == ds.files[rel]
    assert wait_until(lambda: m.stats()["cache"]["write_failures"] > 0, 30), m.stats()
    # Prefetch paused, ran out its pause, failed again and paused longer: time enough for the
    # old code to fetch the dataset many times over (27-34x per pass).
    assert wait_until(lambda: m.stats()["prefetch"]["pauses"] >= 2, 30), m.stats()
    s = m.stats()
    assert s["cache"]["origin_bytes"] <= 2 * ds.total_bytes, s
    read_all_verify(m.mountpoint, ds)
    s = m.stats()
    assert s["cache"]["origin_bytes"] <= 3 * ds.total_bytes, s
    assert m.mounted
    # One warning for the episode, not one per block.
    log = m.log_file.read_text(errors="replace")
    assert log.count("cannot cache block") == 1, m.log_tail()
    m.umount()


def test_log_rotation_without_free_inodes_does_not_crash_the_daemon(dataset, tmp_path, small_fs):
    ds = dataset({f"f{i}": 4 * KiB for i in range(20)}, seed=3)
    logs = small_fs(16, 2)  # the root and the log file: rotation cannot create a new file
    log = logs / "epochfs.log"
    log.write_bytes(b"x" * (4 * MiB - 200) + b"\n")  # the next few lines rotate it
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cmd = [epochfs_bin(), "mount", str(ds.root), str(mnt), "--foreground",
           "--cache-dir", str(tmp_path / "cache"), "--log-file", str(log)]
    daemon = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: is_mounted(mnt) or daemon.poll() is not None, 30)
        assert daemon.poll() is None, daemon.communicate()
        read_all_verify(mnt, ds)
        assert "log rotation of" in log.read_text(errors="replace"), "rotation was not tried"
        res = run_cli("umount", mnt)
        assert res.returncode == 0, res.stderr
        out, err = daemon.communicate(timeout=30)
    finally:
        # A daemon that crashed (what this test looks for) leaves a dead mount behind.
        if daemon.poll() is None or is_mounted(mnt):
            subprocess.run(["fusermount3", "-uz", str(mnt)], capture_output=True, timeout=30)
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
    assert daemon.returncode == 0, f"daemon exited {daemon.returncode}: {err}"
    text = log.read_text(errors="replace")
    assert os.path.getsize(log) <= 4 * MiB
    assert "unmount" in text.lower(), text[-2000:]
