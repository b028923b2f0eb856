"""Tar shards (WebDataset's layout) streamed by a PyTorch DataLoader's workers through a real
mount: 8 shards of 12 MiB, 4 workers each streaming its shards (worker w reads the epoch's
order[w::4], as WebDataset's split_by_worker does) with Python's tarfile, every member checked
against its digest, the cache at half the dataset. Three ways to run each epoch: no plan; a
plan naming the shards as whole files (publish_plan: the daemon learns the order of the
files, not that 4 stream at once); and a plan of shards (publish_shard_plan: their blocks in
the order the 4 workers read them). Each epoch's plan is published an epoch ahead. With the
shard plan the later epochs read at least 80% of their blocks from the cache and the origin
carries at most 0.7x the dataset per epoch (the floor is 0.5x); it reads more from the cache
than no plan (the issue measured 52-60% without a plan and 57-72% with a whole-file plan)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import sys
import tarfile
import time
from pathlib import Path

import pytest
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from epochfs_testlib import MiB, drop_page_cache

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))  # the source tree's
import epochfs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

SHARDS = 8
SHARD_BYTES = 12 * MiB
WORKERS = 4
EPOCHS = 4
BLOCK = "1MiB"
CACHE = "48MiB"  # half of the 96 MiB of shards
STEP = 0.01  # seconds of "GPU" per batch of 8 samples: a loader the origin can feed


def make_shards(root: Path) -> dict[str, str]:
    """SHARDS tar files of samples of 64-256 KiB; the digest of every member by name."""
    rng = random.Random(5)
    want = {}
    for s in range(SHARDS):
        with tarfile.open(root / f"shard-{s:02d}.tar", "w") as tar:
            size = 0
            i = 0
            while size < SHARD_BYTES - 300 * 1024:
                data = rng.randbytes(rng.randint(64, 256) * 1024)
                name = f"s{s:02d}/{i:05d}.bin"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                want[name] = hashlib.sha256(data).hexdigest()
                size += len(data) + 512
                i += 1
    return want


class Shards(IterableDataset):
    """Worker w streams order[w::workers]: each shard from its start to its end, as tarfile's
    stream mode reads it; yields (member name, digest)."""

    def __init__(self, root: Path):
        self.root = root
        self.order: list[str] = []

    def __iter__(self):
        info = get_worker_info()
        mine = self.order[info.id::info.num_workers] if info else self.order
        for rel in mine:
            with tarfile.open(self.root / rel, mode="r|") as tar:
                for member in tar:
                    data = tar.extractfile(member).read()
                    yield member.name, hashlib.sha256(data).hexdigest()


def run(m, want: dict[str, str], plan: str) -> list[dict]:
    """EPOCHS epochs through the mount with `plan` ("none", "files", "shards"); the daemon's
    epochs."""
    ds = Shards(m.mountpoint)
    shards = sorted(p.name for p in m.mountpoint.glob("shard-*.tar"))
    assert len(shards) == SHARDS
    loader = DataLoader(ds, batch_size=8, num_workers=WORKERS, collate_fn=list)
    rng = random.Random(11)
    orders = []
    for _ in range(EPOCHS + 1):
        orders.append(shards[:])
        rng.shuffle(orders[-1])
    for e in range(EPOCHS):
        for rel in shards:
            drop_page_cache(m.mountpoint / rel)
        ds.order = orders[e]
        # Each epoch's plan published one epoch ahead (as PlanSampler(plan_ahead=1)), so that
        # the cache keeps across the boundary what the next epoch reads first.
        for k in ([0, 1] if e == 0 else [e + 1]):
            if plan == "files":
                epochfs.publish_plan(m.mountpoint, orders[k])
            elif plan == "shards":
                epochfs.publish_shard_plan(m.mountpoint, orders[k], streams=WORKERS)
        seen = 0
        for batch in loader:
            time.sleep(STEP)
            for name, digest in batch:
                assert digest == want[name], f"{name}: wrong bytes"
                seen += 1
        assert seen == len(want)
    s = m.settled_stats()
    assert len(s["epochs"]) == EPOCHS, s["epochs"]
    return s["epochs"]


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards") / "origin"
    root.mkdir()
    return root, make_shards(root)


def mount(mounter, root):
    # Passthrough off: a shard the cache holds whole would be read by the kernel itself, and
    # its reads would not reach the daemon's counters this test compares.
    return mounter(root, cache_size=CACHE, args=["--block-size", BLOCK, "--min-free", "0",
                                                 "--passthrough", "off"])


def hit_ratio(e: dict) -> float:
    return e["hits"] / max(1, e["reads"])


def test_a_plan_of_shards_prefetches_every_stream_with_origin_near_its_floor(
        shard_dir, mounter):
    root, want = shard_dir
    total = sum(os.path.getsize(p) for p in root.glob("*.tar"))
    m = mount(mounter, root)
    epochs = run(m, want, "shards")
    ratios = [round(hit_ratio(e), 3) for e in epochs]
    origin = [round(e["origin_bytes"] / total, 3) for e in epochs]
    print(f"shard plan: hit ratio per epoch {ratios}, origin/dataset {origin}")
    s = m.stats()
    assert s["plans"]["published"] == EPOCHS + 1, s["plans"]
    assert s["plans"]["unknown_paths"] == 0, s["plans"]
    assert s["plans"]["planned_files"] == (EPOCHS + 1) * SHARDS, s["plans"]
    # Every block of every epoch was planned, in the workers' order.
    assert s["plans"]["planned_blocks"] >= (EPOCHS + 1) * total // MiB, s["plans"]
    assert s["cache"]["random_files"] == 0, "shards are read in order: no grain"
    # Epochs 2-4 (the prefetches of the next epoch's first blocks count in the epoch before,
    # so single epochs swing): the floor of origin bytes is 1 - c = 0.5 (the cache holds a
    # little under half); measured 0.61-0.66 and hit ratios 0.86-0.93.
    later_origin = sum(origin[1:]) / (EPOCHS - 1)
    later_hits = sum(ratios[1:]) / (EPOCHS - 1)
    assert later_origin <= 0.7, f"origin carried {later_origin:.2f}x the dataset: {origin}"
    assert later_hits >= 0.8, f"hit ratio {later_hits:.2f}: {ratios}"
    assert s["policy"]["epoch"] == EPOCHS, s["policy"]
    assert s["prefetch"]["unused"] <= s["prefetch"]["prefetched"] // 20, s["prefetch"]


def test_the_shard_plan_against_a_plan_of_whole_shards_and_none(shard_dir, mounter):
    root, want = shard_dir
    total = sum(os.path.getsize(p) for p in root.glob("*.tar"))
    out = {}
    for plan in ("none", "files", "shards"):
        ep = run(mount(mounter, root), want, plan)
        out[plan] = (sum(hit_ratio(e) for e in ep[1:]) / (EPOCHS - 1),
                     sum(e["origin_bytes"] for e in ep[1:]) / (EPOCHS - 1) / total)
    print("later epochs (hit ratio, origin/dataset): " +
          ", ".join(f"{k} {v[0]:.3f} {v[1]:.3f}" for k, v in out.items()))
    # Measured: no plan 0.78-0.81, shards as whole files 0.82-0.89, the shard plan 0.86-0.93:
    # above no plan in every run, above the whole-file plan in most (not asserted: under load
    # the two came within noise of each other, once 0.86 against 0.89).
    assert out["shards"][0] >= out["none"][0], out


def test_a_shard_plan_names_a_missing_shard_and_checks_streams(shard_dir, mounter):
    root, _ = shard_dir
    m = mount(mounter, root)
    with pytest.raises(OSError, match="shard 'nope.tar'"):
        epochfs.publish_shard_plan(m.mountpoint, ["shard-00.tar", "nope.tar"], streams=2)
    with pytest.raises(ValueError, match="streams must be an int >= 1"):
        epochfs.shard_records(m.mountpoint, ["shard-00.tar"], streams=0)
    # Two streams over three shards: shard 0's and shard 1's blocks alternate, then shard 2's.
    recs = epochfs.shard_records(m.mountpoint, ["shard-00.tar", "shard-01.tar",
                                                "shard-02.tar"], streams=2)
    assert [r.path for r in recs[:4]] == ["shard-00.tar", "shard-01.tar"] * 2
    assert recs[0].offset == 0 and recs[2].offset == recs[0].length == MiB
    assert sum(r.length for r in recs) == sum(
        os.path.getsize(root / f"shard-0{i}.tar") for i in range(3))
    assert m.stats()["plans"]["published"] == 0, "nothing published by the failed call"
