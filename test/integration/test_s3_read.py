"""Reads through a real mount of a real Ceph RGW bucket (issue 3): a PyTorch DataLoader with
4 workers reads 2,000 objects byte-exact; keys that need URL encoding, directory markers, a key
that is both a file and a prefix, keys that are not valid paths (docs/semantics.md, "S3
origins"); objects overwritten at the origin are never served as a mix of two versions."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import stat
import subprocess
from pathlib import Path

from epochfs_testlib import KiB, MiB, drop_page_cache, expect_errno, read_file
from rgw_fixture import put_many

# The Python with torch: Debian's (the python3 first on PATH may be another build).
TORCH_PYTHON = os.environ.get("EPOCHFS_TORCH_PYTHON", "/usr/bin/python3")

LOADER = r'''
import hashlib, json, os, sys
import torch
from torch.utils.data import DataLoader, Dataset

class Files(Dataset):
    """Opens and reads whole files, as image datasets do."""
    def __init__(self, root, rels):
        self.root, self.rels = root, rels
    def __len__(self):
        return len(self.rels)
    def __getitem__(self, i):
        with open(os.path.join(self.root, self.rels[i]), "rb") as f:
            data = f.read()
        return self.rels[i], hashlib.sha256(data).hexdigest(), len(data)

def keep(batch):
    return batch

def main():
    root, out = sys.argv[1], sys.argv[2]
    rels = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for n in sorted(files):
            rels.append(os.path.relpath(os.path.join(d, n), root))
    torch.manual_seed(3)
    loader = DataLoader(Files(root, rels), batch_size=8, shuffle=True, num_workers=4,
                        collate_fn=keep, persistent_workers=False)
    seen = {}
    for batch in loader:
        for rel, digest, n in batch:
            if rel in seen:
                raise SystemExit(f"{rel} delivered twice")
            seen[rel] = [digest, n]
    with open(out, "w") as f:
        json.dump({"listed": rels, "read": seen}, f)

if __name__ == "__main__":
    main()
'''


def _dataloader_epoch(tmp_path: Path, mnt: Path, tag: str) -> dict:
    script = tmp_path / "loader.py"
    script.write_text(LOADER)
    out = tmp_path / f"loader-{tag}.json"
    res = subprocess.run([TORCH_PYTHON, str(script), str(mnt), str(out)], capture_output=True,
                         text=True, timeout=600, stdin=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, (f"DataLoader run ({tag}) failed ({res.returncode}):\n"
                                 f"{res.stderr[-4000:]}")
    return json.loads(out.read_text())


def test_dataloader_reads_2000_objects_byte_exact(rgw, unique_bucket, s3mounter, tmp_path):
    rng = random.Random(31)
    objects: dict[str, bytes] = {}
    for i in range(2000):
        # Mostly small images; every 100th a few MiB, so that some cross 4 MiB cache blocks.
        size = rng.randint(3 * MiB, 9 * MiB) if i % 100 == 7 else rng.randint(1, 96 * KiB)
        objects[f"train/class_{i % 20:02d}/img_{i:05d}.jpg"] = rng.randbytes(size)
    objects["train/empty.bin"] = b""
    s3 = rgw.client()
    put_many(s3, unique_bucket, objects)
    expected = {k[len("train/"):]: (hashlib.sha256(v).hexdigest(), len(v))
                for k, v in objects.items()}

    m = s3mounter(unique_bucket, "train", cache_size="1GiB")
    before = m.stats()
    got = _dataloader_epoch(tmp_path, m.mountpoint, "cold")
    assert sorted(got["listed"]) == sorted(expected), "os.walk of the mount != uploaded keys"
    assert len(got["read"]) == len(expected)
    bad = [rel for rel, (digest, n) in got["read"].items()
           if (digest, n) != expected[rel]]
    assert not bad, f"{len(bad)} files differ from what was uploaded, e.g. {bad[:5]}"
    cold = m.stats()
    assert cold["origin"]["errors"] == before["origin"]["errors"], cold["origin"]
    assert cold["origin"]["read_requests"] > before["origin"]["read_requests"]

    # A second epoch with the kernel's page cache dropped: every read reaches the daemon and is
    # served from the cache; open and stat of known files cost no origin request.
    for rel in expected:
        drop_page_cache(m.mountpoint / rel)
    warm_before = m.stats()
    got = _dataloader_epoch(tmp_path, m.mountpoint, "warm")
    bad = [rel for rel, (digest, n) in got["read"].items() if (digest, n) != expected[rel]]
    assert not bad and len(got["read"]) == len(expected), f"warm epoch differs: {bad[:5]}"
    warm = m.stats()
    assert warm["origin"]["requests"] == warm_before["origin"]["requests"], (
        f"a warm epoch sent origin requests: {warm_before['origin']} -> {warm['origin']}")
    assert warm["cache"]["hits"] > warm_before["cache"]["hits"]


# ---------------------------------------------------------------------------------------------
# Names

# key -> size: names that need URL encoding in requests (and must not be decoded twice).
ENCODED = {
    "a b.bin": 1000,
    "  two  spaces .bin": 17,
    "ünïcödé-データ-😀.bin": 2000,
    "plus+sign.bin": 300,
    "100%.bin": 10,
    "%41%2F%20.bin": 11,           # literal escapes: must stay as written
    "k=v&x=y.bin": 12,
    "q?hash#frag.bin": 13,
    "semi;colon,comma'quote\"brace{}.bin": 14,
    "tilde~star*paren()!$@.bin": 15,
    "back\\slash.bin": 16,
    "dir with space/sub+dir/f=1 %.bin": 5000,
    "データ/ñandú/π=3.14+e%.bin": 70 * KiB,
    "plus+dir/100% done/a=b.bin": 64 * KiB + 1,
}


def _walk(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    out = {}
    for d, dirs, files in os.walk(root):
        out[os.path.relpath(d, root)] = (sorted(dirs), sorted(files))
    return out


def test_keys_needing_url_encoding(rgw, unique_bucket, s3mounter):
    rng = random.Random(32)
    objects = {k: rng.randbytes(n) for k, n in ENCODED.items()}
    put_many(rgw.client(), unique_bucket, objects)
    m = s3mounter(unique_bucket)

    expected_tree: dict[str, tuple[set, set]] = {}
    for key in objects:
        parts = key.split("/")
        for i in range(len(parts)):
            d = "/".join(parts[:i]) or "."
            expected_tree.setdefault(d, (set(), set()))
            if i < len(parts) - 1:
                expected_tree[d][0].add(parts[i])
            else:
                expected_tree[d][1].add(parts[i])
    assert _walk(m.mountpoint) == {d: (sorted(a), sorted(b))
                                   for d, (a, b) in expected_tree.items()}
    for key, data in objects.items():
        st = os.stat(m.mountpoint / key)
        assert stat.S_ISREG(st.st_mode) and st.st_size == len(data), key
        assert read_file(m.mountpoint / key) == data, f"{key!r}: bytes differ"
        # A ranged read in the middle (a ranged GET of exactly those bytes when uncached).
        drop_page_cache(m.mountpoint / key)
        with open(m.mountpoint / key, "rb", buffering=0) as f:
            f.seek(len(data) // 3)
            assert f.read(100) == data[len(data) // 3:len(data) // 3 + 100], key
    # Near misses are not found: the names are matched byte for byte.
    for missing in ("a%20b.bin", "a+b.bin", "plus sign.bin", "A.bin", "100%25.bin"):
        expect_errno(errno.ENOENT, os.stat, m.mountpoint / missing)
    assert m.stats()["origin"]["errors"] == 0


def test_directory_markers_file_vs_prefix_and_invalid_keys(rgw, unique_bucket, s3mounter):
    """docs/semantics.md: a marker (key ending in '/') makes its directory exist and is never a
    file; a key that is both a file and a prefix is a directory (the object is hidden); keys
    with an empty, '.' or '..' component are not shown, their valid leading directories are."""
    rng = random.Random(33)
    objects = {
        "markers/": b"",                      # marker of a directory that also has children
        "markers/full/": b"",
        "markers/full/x.bin": rng.randbytes(100),
        "markers/empty/": b"",                # the only trace of an empty directory
        "markers/nested/deep/": b"",          # a marker two levels below anything else
        "markers/odd/": b"not empty",         # a marker with content: still not a file
        "both": b"the object named both",     # both a file and a prefix: the directory wins
        "both/inner.bin": rng.randbytes(200),
        "both/deeper": b"x",
        "both/deeper/leaf.bin": rng.randbytes(300),
        "bad//x.bin": b"empty component",
        "dots/./y.bin": b"dot component",
        "dots/../z.bin": b"dotdot component",
        "/leading.bin": b"leading slash",
        "ok.bin": rng.randbytes(50),
    }
    s3 = rgw.client()
    put_many(s3, unique_bucket, objects)
    # Sanity: RGW keeps these keys as written.
    assert sorted(s3.list_keys(unique_bucket)) == sorted(objects)
    m = s3mounter(unique_bucket)
    mnt = m.mountpoint

    tree = _walk(mnt)
    assert tree == {
        ".": (["bad", "both", "dots", "markers"], ["ok.bin"]),
        "markers": (["empty", "full", "nested", "odd"], []),
        "markers/empty": ([], []),
        "markers/full": ([], ["x.bin"]),
        "markers/nested": (["deep"], []),
        "markers/nested/deep": ([], []),
        "markers/odd": ([], []),
        "both": (["deeper"], ["inner.bin"]),
        "both/deeper": ([], ["leaf.bin"]),
        "bad": ([], []),
        "dots": ([], []),
    }, tree
    for d in ("markers", "markers/empty", "markers/nested/deep", "both", "both/deeper", "bad",
              "dots"):
        assert stat.S_ISDIR(os.stat(mnt / d).st_mode), d
    assert read_file(mnt / "markers/full/x.bin") == objects["markers/full/x.bin"]
    assert read_file(mnt / "both/inner.bin") == objects["both/inner.bin"]
    assert read_file(mnt / "both/deeper/leaf.bin") == objects["both/deeper/leaf.bin"]
    assert read_file(mnt / "ok.bin") == objects["ok.bin"]
    expect_errno(errno.EISDIR, read_file, mnt / "both")
    for hidden in ("bad/x.bin", "dots/y.bin", "dots/z.bin", "leading.bin", "z.bin"):
        expect_errno(errno.ENOENT, os.stat, mnt / hidden)
    with os.scandir(mnt / "markers") as it:
        assert {e.name: e.is_dir(follow_symlinks=False) for e in it} == {
            "empty": True, "full": True, "nested": True, "odd": True}


# ---------------------------------------------------------------------------------------------
# Overwritten objects

CHUNK = 64 * KiB
BLOCK_ARGS = ("--block-size", "64KiB")  # many blocks per object: partial caching is easy


def _read_rest_never_mixed(fd: int, old: bytes, start: int) -> tuple[int, OSError | None]:
    """Reads [start, len(old)) in CHUNK pread()s from an fd opened on the old version. Every
    successful read must be exactly the old bytes there (full length: the old size holds); a
    failure must be ESTALE or EIO, and reads after a failure obey the same rule (the open file
    never switches to the new version). Returns (bytes read as old, first error)."""
    first_err = None
    good = 0
    for off in range(start, len(old), CHUNK):
        want = old[off:off + CHUNK]
        try:
            got = os.pread(fd, CHUNK, off)
        except OSError as e:
            assert e.errno in (errno.ESTALE, errno.EIO), (
                f"read at {off} of a replaced object failed with "
                f"{errno.errorcode.get(e.errno, e.errno)}, expected ESTALE (or EIO)")
            first_err = first_err or e
            continue
        assert len(got) == len(want), (
            f"read at {off} returned {len(got)} bytes, the opened version has {len(want)} "
            f"there (the new version's size leaked into an open file)")
        assert got == want, (f"read at {off} returned bytes that are not the opened version's "
                             f"(mixed versions{' after ' + repr(first_err) if first_err else ''})")
        good += len(got)
    return good, first_err


def _overwrite_while_open(rgw, bucket, s3mounter, old_size, new_size, seed):
    rng = random.Random(seed)
    key = "obj.bin"
    old, new = rng.randbytes(old_size), rng.randbytes(new_size)
    s3 = rgw.client()
    s3.put_object(bucket, key, old)
    m = s3mounter(bucket, args=BLOCK_ARGS)
    path = m.mountpoint / key

    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.pread(fd, CHUNK, 0) == old[:CHUNK]
        s3.put_object(bucket, key, new)
        _, err = _read_rest_never_mixed(fd, old, CHUNK)
        # Re-reading the start of the open file still gives the old bytes (or an error).
        try:
            assert os.pread(fd, CHUNK, 0) == old[:CHUNK], "the open file switched versions"
        except OSError as e:
            assert e.errno in (errno.ESTALE, errno.EIO), e
    finally:
        os.close(fd)

    if err is None:
        # Everything was served from the old version (all cached): the new version becomes
        # known with a refresh.
        m.refresh()
    # A fresh open reads the new version, whole, with its size; the old cached blocks (and
    # the kernel's pages of them) are never served again.
    got = read_file(path)
    assert len(got) == len(new), f"fresh open read {len(got)} bytes, new version has {len(new)}"
    assert got == new, "a fresh open after the overwrite did not read the new version"
    assert os.stat(path).st_size == len(new), "stat after revalidation shows the old size"
    # Twice, the second time from the cache.
    drop_page_cache(path)
    assert read_file(path) == new
    return m, err


def test_overwrite_same_size_never_mixed(rgw, unique_bucket, s3mounter):
    _, err = _overwrite_while_open(rgw, unique_bucket, s3mounter, 8 * MiB, 8 * MiB, 41)
    print(f"read of the replaced object: {err!r}")


def test_overwrite_larger_never_mixed(rgw, unique_bucket, s3mounter):
    _overwrite_while_open(rgw, unique_bucket, s3mounter, 4 * MiB + 5, 6 * MiB + 77, 42)


def test_overwrite_smaller_never_mixed(rgw, unique_bucket, s3mounter):
    _overwrite_while_open(rgw, unique_bucket, s3mounter, 6 * MiB + 3, 1 * MiB + 11, 43)


def _all_of_one_version(data: bytes, versions: dict[str, bytes]) -> str:
    for name, v in versions.items():
        if data == v:
            return name
    raise AssertionError("read returned bytes that are not any single version: "
                         + ", ".join(f"{n}: {len(v)} bytes" for n, v in versions.items())
                         + f"; got {len(data)} bytes")


def test_partly_cached_then_overwritten_refresh_reads_new(rgw, unique_bucket, s3mounter):
    """Half of the old version is cached; after the overwrite a fresh open reads one version
    whole (never cached old blocks with new ones), and after `epochfs refresh` the new one."""
    rng = random.Random(44)
    key = "dir/half.bin"
    old, new = rng.randbytes(4 * MiB), rng.randbytes(4 * MiB)
    s3 = rgw.client()
    s3.put_object(unique_bucket, key, old)
    m = s3mounter(unique_bucket, args=BLOCK_ARGS)
    path = m.mountpoint / key
    with open(path, "rb", buffering=0) as f:
        assert f.read(2 * MiB) == old[:2 * MiB]
    drop_page_cache(path)
    s3.put_object(unique_bucket, key, new)

    try:
        got = read_file(path)
        which = _all_of_one_version(got, {"old": old, "new": new})
        print(f"fresh open without refresh read the {which} version")
    except OSError as e:
        assert e.errno in (errno.ESTALE, errno.EIO), e
        print(f"fresh open without refresh: {e!r}")
        # The failed read revalidated the entry: the next open reads the new version.
        assert read_file(path) == new, "the open after ESTALE did not read the new version"
    m.refresh()
    assert read_file(path) == new
    drop_page_cache(path)
    assert read_file(path) == new, "after refresh, a cached block of the old version was served"


def test_overwrite_between_mounts_never_mixed(rgw, unique_bucket, s3mounter, tmp_path):
    """The persisted snapshot knows the old ETag and the cache holds part of the old version;
    after a remount on that cache, reads give one version whole or fail, never a mix; after a
    refresh, the new version."""
    rng = random.Random(45)
    key = "remount.bin"
    old, new = rng.randbytes(3 * MiB), rng.randbytes(3 * MiB)
    s3 = rgw.client()
    s3.put_object(unique_bucket, key, old)
    cache = tmp_path / "shared-cache"
    m1 = s3mounter(unique_bucket, cache_dir=cache, args=BLOCK_ARGS)
    with open(m1.mountpoint / key, "rb", buffering=0) as f:
        assert f.read(1 * MiB) == old[:1 * MiB]
    m1.umount()
    s3.put_object(unique_bucket, key, new)

    m2 = s3mounter(unique_bucket, cache_dir=cache, args=BLOCK_ARGS)
    path = m2.mountpoint / key
    try:
        got = read_file(path)
        print("after remount: " + _all_of_one_version(got, {"old": old, "new": new}))
    except OSError as e:
        assert e.errno in (errno.ESTALE, errno.EIO), e
        print(f"after remount: {e!r}")
        # The failed read revalidated the entry: the next open reads the new version.
        assert read_file(path) == new, "the open after ESTALE did not read the new version"
    m2.refresh()
    drop_page_cache(path)
    assert read_file(path) == new


def test_deleted_object_reads_enoent_or_old(rgw, unique_bucket, s3mounter):
    """An object deleted at the origin: uncached bytes fail (semantics.md: ENOENT), never
    garbage; after a refresh the file is gone."""
    rng = random.Random(46)
    data = rng.randbytes(2 * MiB)
    s3 = rgw.client()
    s3.put_object(unique_bucket, "gone.bin", data)
    s3.put_object(unique_bucket, "stays.bin", b"stays")
    m = s3mounter(unique_bucket, args=BLOCK_ARGS)
    path = m.mountpoint / "gone.bin"
    with open(path, "rb", buffering=0) as f:
        assert f.read(CHUNK) == data[:CHUNK]
        s3.delete_object(unique_bucket, "gone.bin")
        for off in range(CHUNK, len(data), 8 * CHUNK):
            try:
                got = os.pread(f.fileno(), CHUNK, off)
            except OSError as e:
                assert e.errno in (errno.ENOENT, errno.ESTALE, errno.EIO), e
                continue
            assert got == data[off:off + CHUNK], f"garbage at {off} of a deleted object"
    m.refresh()
    # After the refresh the listing no longer has it and open fails. (stat may still answer
    # from the kernel's entry cache for fuse.attr_timeout seconds: docs/semantics.md.)
    assert sorted(os.listdir(m.mountpoint)) == ["stays.bin"]
    expect_errno(errno.ENOENT, read_file, path)
    assert read_file(m.mountpoint / "stays.bin") == b"stays"

