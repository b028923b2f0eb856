"""Plans and prefetch on a real Ceph RGW bucket (issues 3 and 4): the prefetchers fetch in plan
order through the S3 origin (ranged GETs with If-Match, the connection pool), readers that
arrive first join their fetches, every byte is the uploaded one, and with the cache at about
half the dataset the second planned epoch is served from the cache while the origin sends about
half the dataset. An object overwritten after the plan was published is never served stale."""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from pathlib import Path

from epochfs_testlib import KiB, MiB, read_file
from rgw_fixture import put_many

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))  # the package from the source tree
import epochfs  # noqa: E402

FILES = 500
SIZE = 96 * KiB  # one 128 KiB FUSE read each; a multiple of 4 KiB (no allocation slack)


def read_dropping(path: Path) -> bytes:
    """Reads a file and drops its page cache, as if the dataset were larger than RAM."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return b"".join(chunks)
    finally:
        os.close(fd)


def test_planned_epochs_over_s3(rgw, unique_bucket, s3mounter):
    rng = random.Random(41)
    objects = {f"ds/c{i % 10}/f{i:04d}.bin": rng.randbytes(SIZE) for i in range(FILES)}
    put_many(rgw.client(), unique_bucket, objects)
    digests = {k[len("ds/"):]: hashlib.sha256(v).hexdigest() for k, v in objects.items()}
    total = FILES * SIZE
    cache = 24 * MiB  # ~half of the 49 MB dataset (minus the 1 MiB metadata reserve)
    c = cache / total
    m = s3mounter(unique_bucket, "ds", cache_size=str(cache), args=("--min-free", "0"))
    names = sorted(digests)
    for epoch in range(1, 4):
        order = names[:]
        rng.shuffle(order)
        assert epochfs.publish_plan(m.mountpoint, order) == FILES
        for rel in order:
            data = read_dropping(m.mountpoint / rel)
            assert hashlib.sha256(data).hexdigest() == digests[rel], f"epoch {epoch}: {rel}"
            time.sleep(0.002)  # the GPU step: the prefetchers get ahead of the reader
    s = m.stats()
    assert s["origin"]["errors"] == 0, s["origin"]
    assert s["prefetch"]["failed"] == 0 and s["prefetch"]["prefetched"] > 0, s["prefetch"]
    assert s["plans"]["published"] == 3 and s["plans"]["unknown_paths"] == 0, s["plans"]
    epochs = {e["epoch"]: e for e in s["epochs"]}
    assert sorted(epochs) == [1, 2, 3], s["epochs"]
    for n in (2, 3):
        e = epochs[n]
        print(f"epoch {n}: hit ratio {e['hit_ratio']:.3f}, origin {e['origin_bytes'] / total:.3f}"
              f" x dataset, c = {c:.3f}")
        assert e["hit_ratio"] >= 0.9, e
    # Once warm, the origin sends what the cache cannot hold, not more. What the cache holds
    # is cache.size less its metadata reserve (1 MiB) and index (< 1 MiB here).
    c_blocks = (cache - 2 * MiB) / total
    assert epochs[3]["origin_bytes"] <= 1.05 * (1 - c_blocks) * total, epochs[3]


def test_overwritten_after_the_plan_is_never_served_stale(rgw, unique_bucket, s3mounter):
    rng = random.Random(42)
    objects = {f"f{i:03d}.bin": rng.randbytes(64 * KiB) for i in range(40)}
    s3 = rgw.client()
    put_many(s3, unique_bucket, objects)
    # metadata.ttl 0: every open asks the origin, so the new version is what opens see.
    m = s3mounter(unique_bucket, args=("--metadata-ttl", "0"))
    names = sorted(objects)
    assert epochfs.publish_plan(m.mountpoint, names) == len(names)
    # Prefetch of the planned (old) versions runs; overwrite half of the objects meanwhile.
    new = {k: rng.randbytes(64 * KiB + 7) for k in names[::2]}
    put_many(s3, unique_bucket, new)
    for k in names:
        want = new.get(k, objects[k])
        got = read_file(m.mountpoint / k)
        assert got == want, f"{k}: {len(got)} bytes, expected the {'new' if k in new else 'old'}"
