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
import threading
import time

import readers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "test", "rgw"))
import s3util  # noqa: E402


def run_epoch(origin, bucket: str, order: list, workers: int,
              checker: readers.Checker) -> readers.EpochResult:
    """GETs every manifest File in `order` from `bucket` with `workers` threads."""
    s3 = s3util.S3(origin.endpoint, origin.access_key, origin.secret_key, origin.region)
    res = readers.EpochResult()
    lock = threading.Lock()
    cursor = [0]

    def worker():
        lat, files, nbytes, good, bad = [], 0, 0, 0, []
        while True:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(order):
                break
            f = order[i]
            t0 = time.perf_counter()
            try:
                body = s3.get_object(bucket, f.rel)
            except (OSError, s3util.S3Error) as e:
                bad.append((f.rel, f"{type(e).__name__}: {e}"))
                continue
            lat.append(time.perf_counter() - t0)
            files += 1
            nbytes += len(body)
            h = checker.new()
            h.update(body)
            if len(body) != f.size:
                bad.append((f.rel, f"got {len(body)} bytes, expected {f.size}"))
            elif h.hexdigest() != checker.expected(f):
                bad.append((f.rel, f"{checker.algo} differs"))
            else:
                good += len(body)
        with lock:
            res.latencies.extend(lat)
            res.files += files
            res.bytes += nbytes
            res.verified_bytes += good
            for rel, why in bad:
                res.add_bad(rel, why)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res.wall_s = time.perf_counter() - t0
    s3.close()
    return res
