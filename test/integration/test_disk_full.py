"""The cache's filesystem full (issue 10, item 4): a small tmpfs under the cache dir, filled by
another program. Reads go on from the origin with the right bytes, nothing crashes, the
filesystem keeps its min_free; once space returns, caching resumes without a remount."""

from __future__ import annotations

import os

from epochfs_testlib import KiB, MiB, drop_page_cache, image_like_sizes, read_file, wait_until


def _fill(path, leave_free: int) -> None:
    """Writes one ballast file until the filesystem has about `leave_free` bytes free."""
    st = os.statvfs(path)
    size = st.f_bavail * st.f_frsize - leave_free
    with open(path / "ballast", "wb") as f:
        chunk = b"\0" * MiB
        while size > 0:
            n = min(size, len(chunk))
            try:
                f.write(chunk[:n])
            except OSError:
                break
            size -= n


def test_reads_go_on_when_the_cache_disk_is_full_and_caching_resumes(dataset, mounter, small_fs):
    fs = small_fs(40)
    ds = dataset(image_like_sizes(160, classes=4, mean=100 * KiB, seed=81), seed=81)
    m = mounter(ds.root, cache_dir=fs / "cache", cache_size="256MiB", args=["--min-free", "0"])
    rels = sorted(ds.files)
    first, second = rels[:80], rels[80:]

    _fill(fs, leave_free=512 * KiB)
    before = m.settled_stats()
    for rel in first:
        assert read_file(m.mountpoint / rel) == ds.files[rel], rel
    full = m.settled_stats()
    cached = full["cache"]["blocks"] - before["cache"]["blocks"]
    assert cached < len(first) // 4, f"{cached} blocks cached on a full filesystem"
    assert full["cache"]["not_admitted"] + full["prefetch"]["declined"] > 0, full["cache"]
    assert m.mounted and os.statvfs(fs).f_bavail > 0

    # Space returns: new reads are cached again (the cache may back off for a while after
    # failed writes; polled, with a generous bound).
    os.unlink(fs / "ballast")

    def cached_again() -> bool:
        for rel in second:
            assert read_file(m.mountpoint / rel) == ds.files[rel], rel
        s = m.settled_stats()
        return s["cache"]["blocks"] - full["cache"]["blocks"] >= len(second) // 2

    assert wait_until(cached_again, timeout=180, interval=1), "caching did not resume"
    # And what was cached is served from the SSD.
    s0 = m.settled_stats()
    for rel in second:
        drop_page_cache(m.mountpoint / rel)
        assert read_file(m.mountpoint / rel) == ds.files[rel], rel
    s1 = m.stats()
    assert s1["cache"]["hits"] - s0["cache"]["hits"] >= len(second) // 2, s1["cache"]
