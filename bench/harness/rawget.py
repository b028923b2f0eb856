"""The raw origin: every object of an epoch fetched with N parallel GETs (default 64) through
the same link and latency proxy as the mounts, with no filesystem and no cache. What a cold
epoch cannot beat: issue 13 wants epochfs's cold epoch within 1.1x of it.

Each worker keeps one keep-alive connection (s3util.S3 is per-thread) and takes the next
object from a shared cursor; every body is checked against the manifest like a read through
a mount. A GET is one latency sample.
"""
from __future__ import annotations

import os
import sys
import time

import readers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "test", "rgw"))
import s3util  # noqa: E402


def run_epoch(origin, bucket: str, order: list, workers: int,
              checker: readers.Checker) -> readers.EpochResult:
    """GETs every manifest File in `order` from `bucket` with `workers` threads."""
    s3 = s3util.S3(origin.endpoint, origin.access_key, origin.secret_key, origin.region)

    def get(f, lat):
        t0 = time.perf_counter()
        try:
            body = s3.get_object(bucket, f.rel)
        except (OSError, s3util.S3Error) as e:
            return 0, f"{type(e).__name__}: {e}"
        lat.append(time.perf_counter() - t0)
        h = checker.new()
        h.update(body)
        if len(body) != f.size:
            return len(body), f"got {len(body)} bytes, expected {f.size}"
        if h.hexdigest() != checker.expected(f):
            return len(body), f"{checker.algo} differs"
        return len(body), None

    try:
        return readers.run_workers(order, workers, get)
    finally:
        s3.close()
