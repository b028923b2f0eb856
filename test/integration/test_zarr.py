"""zarr (Debian's python3-zarr) reading a DirectoryStore through real mounts: one file per
chunk, opened once per chunk read. The arrays read back equal the origin's, a warm pass is
served with no READ request (passthrough) and, where the namespace is cached (metadata.ttl > 0
or immutable), with no origin request at all; with metadata.ttl 0 (a directory origin's
default: close-to-open) each open asks the origin for the file's version once and nothing
more."""

from __future__ import annotations

import numpy as np
import pytest
import zarr  # python3-zarr: scripts/install-deps.sh installs it

from epochfs_testlib import delta, stats_overhead

SIDE = 64  # chunks of 64 x 64 float32: 16 KiB each, one file per chunk
GRID = 6  # 6 x 6 chunks


def make_arrays(root) -> dict[str, np.ndarray]:
    """Two arrays in one DirectoryStore under root/data.zarr: raw chunks and Blosc ones."""
    rng = np.random.default_rng(5)
    arrays = {"raw": rng.random((GRID * SIDE, GRID * SIDE), dtype=np.float32),
              "packed": rng.integers(0, 50, (GRID * SIDE, GRID * SIDE)).astype(np.int32)}
    group = zarr.open_group(zarr.DirectoryStore(str(root / "data.zarr")), mode="w")
    group.create_dataset("raw", data=arrays["raw"], chunks=(SIDE, SIDE), compressor=None)
    group.create_dataset("packed", data=arrays["packed"], chunks=(SIDE, SIDE))
    return arrays


def read_chunks(mnt, arrays: dict[str, np.ndarray]) -> int:
    """Reads every chunk of every array through the mount, one chunk per read, in a shuffled
    order, checking each; returns how many chunk reads there were."""
    group = zarr.open_group(zarr.DirectoryStore(str(mnt / "data.zarr")), mode="r")
    order = [(name, i, j) for name in arrays for i in range(GRID) for j in range(GRID)]
    np.random.default_rng(9).shuffle(order)
    for name, i, j in order:
        rows, cols = slice(i * SIDE, (i + 1) * SIDE), slice(j * SIDE, (j + 1) * SIDE)
        got = group[name][rows, cols]
        assert np.array_equal(got, arrays[name][rows, cols]), (name, i, j)
    return len(order)


def req(before: dict, after: dict, op: str) -> int:
    return delta(before, after, "fuse.requests." + op)


@pytest.mark.parametrize("ttl", ["immutable", "60"])
def test_a_warm_pass_costs_no_origin_request_where_the_namespace_is_cached(tmp_path, mounter,
                                                                            ttl):
    origin = tmp_path / "origin"
    origin.mkdir()
    arrays = make_arrays(origin)
    m = mounter(origin, args=("--metadata-ttl", ttl))
    read_chunks(m.mountpoint, arrays)  # cold: fills the cache
    before = m.settled_stats()
    n = read_chunks(m.mountpoint, arrays)
    after = m.stats()
    assert delta(before, after, "origin.requests") == 0, after["origin"]
    opens = req(before, after, "open")
    assert opens >= n, after["fuse"]["requests"]  # a chunk read is an open of its file
    passed = delta(before, after, "fuse.passthrough.opens")
    assert passed >= n, after["fuse"]["passthrough"]
    # The only READs are .epochfs/stats' own.
    assert req(before, after, "read") == stats_overhead(m, "read"), after["fuse"]["requests"]


def test_close_to_open_costs_one_origin_stat_per_open_and_no_read(tmp_path, mounter):
    origin = tmp_path / "origin"
    origin.mkdir()
    arrays = make_arrays(origin)
    m = mounter(origin)  # a directory origin: metadata.ttl 0 by default
    assert m.stats()["namespace"]["mode"] == "passthrough"
    read_chunks(m.mountpoint, arrays)
    before = m.settled_stats()
    read_chunks(m.mountpoint, arrays)
    after = m.stats()
    opens = req(before, after, "open") - stats_overhead(m, "open")  # of the store's files
    lookups = req(before, after, "lookup")
    stats = delta(before, after, "origin.stat_requests")
    # One stat per open (its version), one per LOOKUP the kernel sends; no listing and no
    # read of the origin.
    assert opens <= stats <= opens + lookups, (after["origin"], after["fuse"]["requests"])
    assert after["origin"]["read_requests"] == before["origin"]["read_requests"]
    assert after["origin"]["list_requests"] == before["origin"]["list_requests"]


def test_a_chunk_changed_at_the_origin_is_read_new_with_close_to_open(tmp_path, mounter):
    origin = tmp_path / "origin"
    origin.mkdir()
    arrays = make_arrays(origin)
    m = mounter(origin)
    read_chunks(m.mountpoint, arrays)
    # Rewrite one chunk at the origin, as a writer of the store would.
    writer = zarr.open_group(zarr.DirectoryStore(str(origin / "data.zarr")), mode="r+")
    arrays["raw"][:SIDE, :SIDE] = 7.5
    writer["raw"][:SIDE, :SIDE] = 7.5
    read_chunks(m.mountpoint, arrays)
