"""The namespace of a mounted RGW bucket (issue 3): a 20,000-object bucket is listed once; a
remount on the same cache dir serves lookups and listings from the persisted snapshot with no
LIST request (origin counters in .epochfs/stats, and the requests seen on the wire by a
proxy); stat/open of a known file needs no origin request; `epochfs refresh` re-lists."""

from __future__ import annotations

import errno
import os
import random
import stat

import pytest

from epochfs_testlib import (NO_LISTED_PREFETCH, drop_page_cache, expect_errno, read_file,
                             wait_until)
from rgw_fixture import bucket_name, put_many

N_OBJECTS = 20_000
N_CLASSES = 100


@pytest.fixture(scope="module")
def bucket_20k(rgw):
    """20,000 small objects (100-1000 B) under train/, in 100 class directories, plus keys
    outside the prefix that a mount of s3://BUCKET/train must not show. Uploaded once per
    module (~25 s with 16 connections)."""
    name = bucket_name("ns-20k")
    rng = random.Random(51)
    objects = {f"train/class_{i % N_CLASSES:03d}/img_{i:06d}.jpg": rng.randbytes(
        rng.randint(100, 1000)) for i in range(N_OBJECTS)}
    outside = {"other/outside.bin": b"outside", "train-not/x.bin": b"sibling prefix",
               "trainx.bin": b"same leading characters"}
    s3 = rgw.client()
    s3.make_bucket(name)
    put_many(s3, name, {**objects, **outside})
    files = {k[len("train/"):]: v for k, v in objects.items()}
    return name, files



def _walk_files(root) -> tuple[int, set[str]]:
    """(number of files, relative directories) by os.walk."""
    n, dirs = 0, set()
    for d, _, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != ".":
            dirs.add(rel)
        n += len(files)
    return n, dirs


def _full_lists(proxy) -> list:
    """ListObjectsV2 requests other than the mount-time probe (max-keys=1)."""
    return [r for r in proxy.snapshot() if r.kind == "list" and r.query.get("max-keys") != "1"]


def test_remount_20k_objects_sends_no_list(bucket_20k, s3mounter, proxy, tmp_path):
    bucket, files = bucket_20k
    rng = random.Random(52)
    keys = sorted(files)
    sample = rng.sample(keys, 300)
    read_sample = sample[:60]
    cache = tmp_path / "cache"
    expected_dirs = {f"class_{c:03d}" for c in range(N_CLASSES)}

    # First mount: lists the bucket (and persists the listing).
    # Listing-driven prefetch off: the request counts below are the reads' own.
    m1 = s3mounter(bucket, "train", endpoint=proxy.endpoint, cache_dir=cache,
                   config=NO_LISTED_PREFETCH)
    s1 = m1.stats()
    assert s1["namespace"]["mode"] == "immutable", s1["namespace"]
    assert s1["namespace"]["loaded_from_snapshot"] is False
    assert s1["origin"]["list_requests"] >= 1, s1["origin"]
    # ListObjectsV2 answers at most 1000 keys a page.
    assert len(_full_lists(proxy)) >= N_OBJECTS // 1000, proxy.counts()
    n, dirs = _walk_files(m1.mountpoint)
    assert n == N_OBJECTS and dirs == expected_dirs, (n, sorted(dirs - expected_dirs)[:5])
    for k in read_sample:
        assert read_file(m1.mountpoint / k) == files[k], k
    m1.umount()

    # Remount on the same cache dir: no LIST at all.
    proxy.reset_counts()
    m2 = s3mounter(bucket, "train", endpoint=proxy.endpoint, cache_dir=cache,
                   config=NO_LISTED_PREFETCH)
    s2 = m2.stats()
    assert s2["origin"]["list_requests"] == 0, s2["origin"]
    assert s2["namespace"]["loaded_from_snapshot"] is True, s2["namespace"]
    assert s2["namespace"]["entries"] >= N_OBJECTS, s2["namespace"]

    # Lookups and listings work, from the snapshot.
    n, dirs = _walk_files(m2.mountpoint)
    assert n == N_OBJECTS, f"os.walk found {n} files after the remount, expected {N_OBJECTS}"
    assert dirs == expected_dirs
    assert sorted(os.listdir(m2.mountpoint / "class_007")) == sorted(
        k.split("/")[1] for k in keys if k.startswith("class_007/"))
    for k in sample:
        st = os.stat(m2.mountpoint / k)
        assert stat.S_ISREG(st.st_mode) and st.st_size == len(files[k]), k
    for missing in ("class_000/nope.jpg", "class_100", "other", "train-not", "x"):
        expect_errno(errno.ENOENT, os.stat, m2.mountpoint / missing)
    # Reads: the files read before come from the cache; others are one ranged GET each.
    for k in sample[:120]:
        drop_page_cache(m2.mountpoint / k)
        assert read_file(m2.mountpoint / k) == files[k], k

    s3_ = m2.stats()
    assert s3_["origin"]["list_requests"] == 0, s3_["origin"]
    assert s3_["origin"]["stat_requests"] == 0, (
        f"stat/open of known files went to the origin: {s3_['origin']}")
    assert s3_["origin"]["errors"] == 0, s3_["origin"]
    # The files not read before (60 of the 120) were fetched; the others were cache hits.
    assert s3_["origin"]["read_requests"] >= 60, s3_["origin"]
    wire = proxy.counts()
    assert not _full_lists(proxy), (
        f"the remount listed the bucket: {[(r.path, r.query) for r in _full_lists(proxy)][:5]}")
    assert wire["list"] <= 1, f"more than the mount-time probe: {wire}"  # the probe
    assert wire["head"] == 0, f"stat of known files sent HEAD requests: {wire}"
    assert wire["get"] == s3_["origin"]["read_requests"], (wire, s3_["origin"])


def test_prefix_and_snapshot_of_whole_bucket(bucket_20k, s3mounter):
    """The whole bucket mounted: the prefix directory plus the keys outside it."""
    bucket, files = bucket_20k
    m = s3mounter(bucket)
    assert sorted(os.listdir(m.mountpoint)) == ["other", "train", "train-not", "trainx.bin"]
    assert read_file(m.mountpoint / "train-not/x.bin") == b"sibling prefix"
    assert len(os.listdir(m.mountpoint / "train")) == N_CLASSES
    k = sorted(files)[12345]
    assert read_file(m.mountpoint / "train" / k) == files[k]


def test_refresh_relists_and_persists(rgw, unique_bucket, s3mounter, tmp_path):
    s3 = rgw.client()
    put_many(s3, unique_bucket, {"a/one.bin": b"1", "a/two.bin": b"22", "b/three.bin": b"333"})
    cache = tmp_path / "cache"
    m = s3mounter(unique_bucket, cache_dir=cache)
    assert sorted(os.listdir(m.mountpoint / "a")) == ["one.bin", "two.bin"]

    s3.put_object(unique_bucket, "a/four.bin", b"4444")
    s3.put_object(unique_bucket, "c/five.bin", b"55555")
    s3.delete_object(unique_bucket, "a/two.bin")
    # Immutable: the snapshot is what is served until a refresh.
    assert sorted(os.listdir(m.mountpoint / "a")) == ["one.bin", "two.bin"]
    assert sorted(os.listdir(m.mountpoint)) == ["a", "b"]
    before = m.stats()
    m.refresh()
    after = m.stats()
    assert after["origin"]["list_requests"] > before["origin"]["list_requests"], after["origin"]
    assert sorted(os.listdir(m.mountpoint / "a")) == ["four.bin", "one.bin"]
    assert sorted(os.listdir(m.mountpoint)) == ["a", "b", "c"]
    assert read_file(m.mountpoint / "a/four.bin") == b"4444"
    assert read_file(m.mountpoint / "c/five.bin") == b"55555"
    expect_errno(errno.ENOENT, read_file, m.mountpoint / "a/two.bin")
    m.umount()

    # The refreshed tree is what a remount loads, with no LIST.
    m2 = s3mounter(unique_bucket, cache_dir=cache)
    assert m2.stats()["origin"]["list_requests"] == 0
    assert m2.stats()["namespace"]["loaded_from_snapshot"] is True
    assert sorted(os.listdir(m2.mountpoint / "a")) == ["four.bin", "one.bin"]
    assert sorted(os.listdir(m2.mountpoint)) == ["a", "b", "c"]
    assert read_file(m2.mountpoint / "c/five.bin") == b"55555"


def test_ttl_mode_sees_origin_changes_without_refresh(rgw, unique_bucket, s3mounter):
    """metadata.ttl: <seconds> (docs/config.md): listings are reused for that long, then
    fetched again, so objects added or removed at the origin show up without a refresh."""
    s3 = rgw.client()
    put_many(s3, unique_bucket, {"d/a.bin": b"a", "d/b.bin": b"bb"})
    m = s3mounter(unique_bucket, config={"metadata": {"ttl": 1}})
    assert m.stats()["namespace"]["mode"] == "ttl", m.stats()["namespace"]
    assert sorted(os.listdir(m.mountpoint / "d")) == ["a.bin", "b.bin"]
    s3.put_object(unique_bucket, "d/c.bin", b"ccc")
    s3.delete_object(unique_bucket, "d/a.bin")
    # Not a timing test: poll until the change shows, with a generous deadline.
    assert wait_until(lambda: sorted(os.listdir(m.mountpoint / "d")) == ["b.bin", "c.bin"],
                      30, 0.2), f"listing after the ttl: {sorted(os.listdir(m.mountpoint / 'd'))}"
    assert read_file(m.mountpoint / "d/c.bin") == b"ccc"
    assert m.stats()["origin"]["list_requests"] >= 2


def test_metadata_ttl_immutable_is_the_default_for_s3(rgw, unique_bucket, s3mounter):
    put_many(rgw.client(), unique_bucket, {"x.bin": b"x"})
    m1 = s3mounter(unique_bucket)
    m2 = s3mounter(unique_bucket, config={"metadata": {"ttl": "immutable"}})
    for m in (m1, m2):
        assert m.stats()["namespace"]["mode"] == "immutable", m.stats()["namespace"]
        assert read_file(m.mountpoint / "x.bin") == b"x"
