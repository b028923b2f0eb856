"""kill -9 of the daemon at random moments under 16 readers, then remount, and the readers go
on (issue 10, item 4; the long version is bench/crash_loop.py, figures in
docs/reliability.md): no wrong byte ever, a reader never stays blocked, every remount reuses the
cache, and after the last one the dataset costs the origin well below its size."""

from __future__ import annotations

from crashloop import errno_names, run_crash_loop
from epochfs_testlib import KiB, disk_usage, image_like_sizes


def test_kill9_at_random_moments_under_16_readers(dataset, mounter, tmp_path):
    sizes = {**image_like_sizes(400, classes=8, mean=40 * KiB, seed=71),
             "shards/a.tar": 9 * 1024 * KiB + 17, "shards/b.tar": 5 * 1024 * KiB}
    ds = dataset(sizes, seed=71)
    cache = tmp_path / "cache"
    rep = run_crash_loop(lambda: mounter(ds.root, cache_dir=cache), ds, kills=6, readers=16,
                         seed=7, reads_between=(50, 200))
    assert not rep.wrong, f"wrong bytes: {rep.wrong[:5]}"
    assert rep.kills == 7
    assert rep.reads >= 400 + 6 * 50
    # Each remount found the blocks of the mounts before it.
    assert all(n > 0 for n in rep.recovered_blocks[1:]), rep.recovered_blocks
    assert rep.final_checksum_failures == 0
    # The last remount: most blocks recovered, and none of them fetched again (only the
    # blocks missing from the cache cost origin bytes, at most a block's size each).
    blocks = ds.nblocks()
    recovered = rep.recovered_blocks[-1]
    assert recovered >= blocks * 3 // 4, f"{recovered} of {blocks} blocks recovered"
    assert rep.final_origin_bytes <= (blocks - recovered) * 4 * 1024 * KiB, (
        f"the last remount fetched {rep.final_origin_bytes} of {rep.dataset_bytes} bytes with "
        f"{recovered} of {blocks} blocks recovered: cached blocks were fetched again "
        f"(failed reads during kills: {rep.failed_reads}, {errno_names(rep.errnos)})")
    assert rep.final_origin_bytes < rep.dataset_bytes // 2
    assert disk_usage(cache) <= 256 * 1024 * KiB
