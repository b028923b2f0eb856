"""Faults between the mount and RGW, injected by faultproxy.py (issue 3): 503 SlowDown, 500,
connections closed or reset without an answer, and answers cut short, within the retry budget,
cause no failed read and no wrong byte; an outage beyond the budget makes reads fail with a
clean EIO while the mount stays up, and reads work again once the origin behaves. A slow
origin (every GET held back) shows in `.epochfs/stats` `stalls` (issue 13): the readers' waits
are counted, since the mount and per epoch, and `epochfs stats` prints them; cached reads, and
planned reads whose prefetch finished first, wait for nothing."""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import os
import random
import sys
from pathlib import Path

import pytest

from epochfs_testlib import (NO_LISTED_PREFETCH, KiB, MiB, drop_page_cache, pid_alive, read_file,
                             run_cli, wait_until)
from rgw_fixture import put_many

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))  # the package from the source tree
import epochfs  # noqa: E402

# Retries fast enough for tests: 6 attempts, backoff 50 ms doubling up to 400 ms (full
# jitter), a 20 s budget. docs/config.md, "Retries".
RETRY = {"retry_max_attempts": 6, "retry_base_delay": 0.05, "retry_max_delay": 0.4,
         "retry_budget": 20}
ATTEMPTS = RETRY["retry_max_attempts"]


def _objects(seed: int, n: int = 24) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {f"d{i % 3}/f{i:03d}.bin": rng.randbytes(rng.randint(1, 300 * KiB)) for i in range(n)}
    out["big.bin"] = rng.randbytes(9 * MiB + 123)  # several 4 MiB blocks
    return out


def _mount(rgw, bucket, s3mounter, proxy, objects, **kw):
    put_many(rgw.client(), bucket, objects)
    # Listing-driven prefetch off: the faults are meant for the reads' own requests.
    return s3mounter(bucket, endpoint=proxy.endpoint,
                     config={"s3": dict(RETRY), **NO_LISTED_PREFETCH}, **kw)


@pytest.mark.parametrize("mode", ["503", "500", "close", "reset", "truncate"])
def test_faults_within_budget_no_failed_reads(rgw, unique_bucket, s3mounter, proxy, mode):
    objects = _objects(61)
    m = _mount(rgw, unique_bucket, s3mounter, proxy, objects)
    keys = sorted(objects)
    # Sequential reads: each of the first files' GETs fails ATTEMPTS-1 times, then succeeds.
    for k in keys[:4]:
        proxy.fail_next(ATTEMPTS - 1, mode, kinds={"get"})
        assert read_file(m.mountpoint / k) == objects[k], f"{k}: wrong bytes after {mode}s"
        assert proxy.pending() == 0, "the read did not retry through all the injected faults"
    # Parallel reads (8 threads, the big file too) with faults spread over them: at most
    # ATTEMPTS-1 faults in all, so no single request can exhaust its attempts.
    proxy.fail_next(ATTEMPTS - 1, mode, kinds={"get"})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = dict(zip(keys, pool.map(lambda k: read_file(m.mountpoint / k), keys)))
    bad = [k for k in keys if got[k] != objects[k]]
    assert not bad, f"wrong bytes after {mode}s: {bad}"
    st = m.stats()
    assert proxy.faults_injected[mode] == 5 * (ATTEMPTS - 1) - proxy.pending(), \
        proxy.faults_injected
    assert st["origin"]["read_requests"] >= len(keys), st["origin"]
    assert pid_alive(m.pid) and m.mounted


def test_faults_on_listing_at_mount_within_budget(rgw, unique_bucket, s3mounter, proxy):
    """The probe (3 attempts) and the listing ride out 503s and dropped connections."""
    objects = _objects(62, n=6)
    put_many(rgw.client(), unique_bucket, objects)
    # The probe (3 attempts): two failures, then through; then the listing's first request
    # fails 4 times (of 6 attempts).
    for mode in ("503", "reset", "ok", "503", "truncate", "close", "500"):
        proxy.fail_next(1, mode, kinds={"list"})
    m = s3mounter(unique_bucket, endpoint=proxy.endpoint, config={"s3": dict(RETRY)})
    assert proxy.pending() == 0
    for k, v in objects.items():
        assert read_file(m.mountpoint / k) == v, k


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_outage_beyond_budget_eio_then_recovers(rgw, unique_bucket, s3mounter, proxy, mode):
    objects = _objects(63)
    m = _mount(rgw, unique_bucket, s3mounter, proxy, objects)
    keys = sorted(objects)
    cached = "d0/f000.bin"
    assert read_file(m.mountpoint / cached) == objects[cached]

    proxy.outage(mode)  # every request, of every kind, fails until heal()
    before = proxy.count()
    conns_before = proxy.connections
    reads_before = m.stats()["origin"]["read_requests"]
    for k in ("d1/f001.bin", "big.bin"):
        with pytest.raises(OSError) as ei:
            read_file(m.mountpoint / k)
        assert ei.value.errno == errno.EIO, (
            f"{k}: expected EIO beyond the retry budget, got "
            f"{errno.errorcode.get(ei.value.errno, ei.value.errno)} ({ei.value})")
    # Each origin read (counted in stats) was tried ATTEMPTS times. With dropped connections
    # libcurl itself resends a request once on a fresh connection when a reused one turns
    # out dead before anything was received (curl's own "connection died" retry): at most
    # once per connection that was open when the outage began.
    reads = m.stats()["origin"]["read_requests"] - reads_before
    n = proxy.count() - before
    most = reads * ATTEMPTS + (0 if mode == "503" else conns_before)
    assert reads >= 2 and reads * ATTEMPTS <= n <= most, (
        f"{n} requests for {reads} failed origin reads with retry_max_attempts={ATTEMPTS}")

    # During the outage the mount stays up: the namespace (snapshot), cached data and the
    # control files still answer.
    assert m.mounted and pid_alive(m.pid)
    assert sorted(os.listdir(m.mountpoint / "d0")) == sorted(
        k.split("/")[1] for k in keys if k.startswith("d0/"))
    assert os.stat(m.mountpoint / keys[2]).st_size == len(objects[keys[2]])
    drop_page_cache(m.mountpoint / cached)
    assert read_file(m.mountpoint / cached) == objects[cached]
    st = m.stats()
    assert st["origin"]["errors"] > 0, st["origin"]
    res = run_cli("stats", m.mountpoint)
    assert res.returncode == 0, res.stderr
    log = m.log_file.read_text(errors="replace")
    assert proxy.endpoint.split("//")[1] in log or "127.0.0.1" in log, (
        "the EIO was not logged with the endpoint")

    # Once the origin behaves, the same files read fine (the failure was not cached).
    proxy.heal()
    for k in keys:
        assert read_file(m.mountpoint / k) == objects[k], f"{k}: wrong after the outage"
    assert m.stats()["origin"]["read_requests"] > st["origin"]["read_requests"]


def test_outage_of_reads_only_while_parallel_readers(rgw, unique_bucket, s3mounter, proxy):
    """Eight readers hit an outage of GETs at once: every read that needs the origin fails with
    EIO (none hangs, none returns wrong bytes), then all succeed after the outage."""
    objects = _objects(64, n=32)
    m = _mount(rgw, unique_bucket, s3mounter, proxy, objects, args=("--threads", "8"))
    keys = sorted(objects)
    proxy.outage("503", kinds={"get"})

    def attempt(k):
        try:
            return read_file(m.mountpoint / k)
        except OSError as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = dict(zip(keys, pool.map(attempt, keys)))
    for k, r in results.items():
        if isinstance(r, OSError):
            assert r.errno == errno.EIO, f"{k}: {r}"
        else:
            raise AssertionError(f"{k}: read succeeded during a full outage of GETs")
    proxy.heal()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = dict(zip(keys, pool.map(attempt, keys)))
    bad = [k for k, r in results.items() if r != objects[k]]
    assert not bad, f"after the outage: {[(k, results[k]) for k in bad[:3]]}"


@pytest.mark.parametrize("mode,code", [("403", errno.EACCES), ("404", errno.ENOENT)])
def test_403_404_not_retried(rgw, unique_bucket, s3mounter, proxy, mode, code):
    """403 and 404 are final answers (docs/config.md): one request per origin read, and the
    read fails with the errno of docs/semantics.md (403: EACCES; deleted object: ENOENT)."""
    objects = _objects(65, n=4)
    m = _mount(rgw, unique_bucket, s3mounter, proxy, objects)
    k = "d1/f001.bin"
    proxy.outage(mode, kinds={"get"})
    before = proxy.count("get")
    reads_before = m.stats()["origin"]["read_requests"]
    with pytest.raises(OSError) as ei:
        read_file(m.mountpoint / k)
    assert ei.value.errno == code, ei.value
    reads = m.stats()["origin"]["read_requests"] - reads_before
    assert reads >= 1 and proxy.count("get") - before == reads, (
        f"{proxy.count('get') - before} GETs for {reads} origin reads: a {mode} was retried")
    proxy.heal()
    assert read_file(m.mountpoint / k) == objects[k]
    assert m.mounted and pid_alive(m.pid)


def test_retry_budget_in_seconds_bounds_attempts(rgw, unique_bucket, s3mounter, proxy):
    """With attempts to spare (100) the time budget ends the retries: no retry starts later
    than s3.retry_budget seconds after the first attempt, so an outage gives EIO after far
    fewer than 100 attempts, and the next read after the outage works."""
    objects = _objects(66, n=3)
    put_many(rgw.client(), unique_bucket, objects)
    cfg = {"retry_max_attempts": 100, "retry_base_delay": 0.1, "retry_max_delay": 0.5,
           "retry_budget": 2}
    m = s3mounter(unique_bucket, endpoint=proxy.endpoint,
                  config={"s3": cfg, **NO_LISTED_PREFETCH})
    proxy.outage("503", kinds={"get"})
    reads_before = m.stats()["origin"]["read_requests"]
    before = proxy.count("get")
    with pytest.raises(OSError) as ei:
        read_file(m.mountpoint / "d0/f000.bin")
    assert ei.value.errno == errno.EIO, ei.value
    reads = m.stats()["origin"]["read_requests"] - reads_before
    n = proxy.count("get") - before
    # Mean backoff ~0.25 s (full jitter up to 0.5 s): ~10 attempts fit in 2 s; 100 would
    # take ~25 s. Generous bound, well below the attempt limit.
    assert reads >= 1 and 2 * reads <= n <= 60 * reads, (
        f"{n} GETs for {reads} origin reads: the time budget did not end the retries")
    proxy.heal()
    assert read_file(m.mountpoint / "d0/f000.bin") == objects["d0/f000.bin"]


# --- a slow origin: the readers' waits (stalls) ---

STALL_FILES = 12
DELAY = 0.1  # seconds before every object GET


def _stall_objects(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"f{i:02d}.bin": rng.randbytes(rng.randint(50 * KiB, 300 * KiB)) for i in range(STALL_FILES)}


def test_waits_on_a_slow_origin_are_counted_and_cached_reads_wait_for_nothing(
        rgw, unique_bucket, s3mounter, proxy):
    objects = _stall_objects(71)
    put_many(rgw.client(), unique_bucket, objects)
    # No prefetch: every first read of a file fetches it itself.
    m = s3mounter(unique_bucket, endpoint=proxy.endpoint,
                  config={"policy": {"prefetch_threads": 0, "prefetch_listed": False}})
    proxy.delay(DELAY, kinds={"get"})
    for k in sorted(objects):
        assert read_file(m.mountpoint / k) == objects[k], k
    s = m.stats()
    st = s["stalls"]
    gets = proxy.count("get")
    assert gets >= STALL_FILES
    # Each file's block read waited at least its GET's delay (one block each: 4 MiB blocks).
    assert st["reads"] >= STALL_FILES, st
    assert st["origin_seconds"] >= STALL_FILES * DELAY * 0.99, st
    assert st["prefetch_seconds"] == 0, st
    # The total is the kinds' sum (each rendered from nanoseconds on its own: rounding).
    assert st["seconds"] >= st["origin_seconds"] + st["fill_seconds"] - 1e-6, st
    assert st["p50_ms"] >= DELAY * 1000 and st["max_ms"] >= st["p99_ms"] / 1.19, st
    assert 0 < st["share"] <= 1, st
    assert sum(e["stalls"]["reads"] for e in s["epochs"]) == st["reads"], s["epochs"]
    out = run_cli("stats", m.mountpoint, check=True).stdout
    assert f"readers waited {st['seconds']:.2f} s in {st['reads']} block reads" in out, out
    assert "waited s" in out, out
    # Everything is cached now: reading it all again, page cache dropped, waits for nothing,
    # however slow the origin still is.
    for k in sorted(objects):
        drop_page_cache(m.mountpoint / k)
        assert read_file(m.mountpoint / k) == objects[k], k
    again = m.stats()
    assert proxy.count("get") == gets, "a cached read reached the origin"
    assert again["stalls"]["reads"] == st["reads"], again["stalls"]
    assert again["stalls"]["seconds"] == st["seconds"], again["stalls"]


def test_planned_reads_after_their_prefetch_wait_for_nothing(rgw, unique_bucket, s3mounter,
                                                             proxy):
    objects = _stall_objects(72)
    put_many(rgw.client(), unique_bucket, objects)
    digests = {k: hashlib.sha256(v).hexdigest() for k, v in objects.items()}
    m = s3mounter(unique_bucket, endpoint=proxy.endpoint,
                  config={"policy": {"prefetch_listed": False}})
    proxy.delay(DELAY, kinds={"get"})
    order = sorted(objects)
    random.Random(3).shuffle(order)
    assert epochfs.publish_plan(m.mountpoint, order) == STALL_FILES
    # The origin keeps up with this reader: it starts once everything is prefetched.
    assert wait_until(lambda: m.stats()["prefetch"]["prefetched"] == STALL_FILES, timeout=60), \
        m.stats()["prefetch"]
    for k in order:
        assert hashlib.sha256(read_file(m.mountpoint / k)).hexdigest() == digests[k], k
    s = m.stats()
    assert s["cache"]["misses"] == 0, s["cache"]
    assert s["stalls"]["reads"] == 0 and s["stalls"]["seconds"] == 0, s["stalls"]
    assert all(e["stalls"]["reads"] == 0 for e in s["epochs"]), s["epochs"]
