"""Cache policies and plans on real mounts: the acceptance test of issue 4.

A dataset twice the cache is read for 4 epochs by a PyTorch DataLoader with workers, once per
policy (lru, fixed, epoch, and epoch with plans published through epochfs.PlanSampler, both
with plan_ahead=0 and =1), each on a fresh mount with a fresh cache dir. The per-epoch hit ratios and origin bytes come from the
daemon's own `.epochfs/stats` ("epochs": its passive epoch clock, the same for every policy).
Every run prints its per-epoch table and writes it to a JSON file (path printed); at the end of
the module all runs are printed together and written to policies.json.

Then the plan file itself: a malformed plan written from a shell fails with EINVAL naming the
line, unknown paths are counted, the file cannot be read, `epochfs stats` shows the policy,
prefetch and epoch lines, and two ranks publishing and reading disjoint halves concurrently.
Nothing here asserts on wall-clock time; the sleep per batch only models the GPU step.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from epochfs_testlib import KiB, epochfs_bin, expect_errno, read_file, run_cli

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))  # the package from the source tree, as test_python_pkg

import epochfs  # noqa: E402
import epochfs._control  # noqa: E402

# 4 workers on a 2-core machine: torch's advice against that is beside the point here.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

N_FILES = 2000
FILE_SIZE = 96 * KiB  # a multiple of 4 KiB: one FUSE read per file, one cache block per file
EPOCHS = 4
BATCH = 16
WORKERS = 4
STEP_SLEEP = 0.003  # seconds per batch: the GPU step
C = 0.5  # cache.size / dataset bytes

# The daemon's epoch clock may put the first few reads of an epoch into the previous one (a
# re-read within its repeat window is not news to it); each epoch must still hold nearly all
# of its own reads.
EPOCH_READ_SLACK = 0.01

# The thresholds, over epochs 2-4 (hits / reads from the stats).
FIXED_MIN = 0.45
LRU_MAX = 0.25
PLAN_MIN = 0.95
PLAN_ORIGIN_MAX = 1.05  # x (1 - c) x dataset bytes, for each epoch once warm (3 and 4)


# ---------------------------------------------------------------------------------------------
# The dataset: created once for the module


@dataclass
class Origin:
    root: Path
    paths: list[str]  # relative to the root (and to the mount root)
    digests: list[bytes]  # blake2b of each file's bytes

    @property
    def total_bytes(self) -> int:
        return len(self.paths) * FILE_SIZE


def digest(data) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def write_origin(root: Path, n: int, seed: int) -> Origin:
    rng = random.Random(seed)
    paths, digests = [], []
    for i in range(n):
        rel = f"class_{i % 20:02d}/img_{i:05d}.bin"
        data = rng.randbytes(FILE_SIZE)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        paths.append(rel)
        digests.append(digest(data))
    return Origin(root, paths, digests)


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Origin:
    return write_origin(tmp_path_factory.mktemp("policies") / "origin", N_FILES, seed=4)


def cache_size_for(o: Origin) -> str:
    return str(int(o.total_bytes * C))  # bytes


def mount_args(policy: str, *extra) -> list[str]:
    return ["--policy", policy, "--min-free", "0", *extra]


# ---------------------------------------------------------------------------------------------
# Training through a DataLoader


class MountedFiles(Dataset):
    """Item i: (i, the bytes of paths[i] read through the mount), read in a worker."""

    def __init__(self, mountpoint: Path, paths: list[str]):
        self.mountpoint, self.paths = str(mountpoint), paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(os.path.join(self.mountpoint, self.paths[i]), "rb", buffering=0) as f:
            data = f.read()
            # A local origin directory is mounted with keep_cache: the kernel's page cache
            # would serve every re-read of a file without asking the daemon, hiding the cache
            # under test. A real dataset is larger than RAM and its pages are gone by the next
            # epoch; drop them here to model that (this works on FUSE files).
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return i, torch.frombuffer(bytearray(data), dtype=torch.uint8)


def train(mountpoint: Path, o: Origin, sampler, epochs: int = EPOCHS) -> None:
    """`epochs` passes of a DataLoader with workers over the mount; every sample's bytes are
    checked against the origin's digest in the main process, and each epoch must yield every
    file exactly once."""
    ds = MountedFiles(mountpoint, o.paths)
    loader = DataLoader(ds, batch_size=BATCH, sampler=sampler, num_workers=WORKERS)
    for epoch in range(epochs):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        seen = []
        bad = []
        for idx, data in loader:
            assert data.shape[1] == FILE_SIZE, f"epoch {epoch}: samples of {data.shape[1]} B"
            for i, row in zip(idx.tolist(), data):
                if digest(row.numpy()) != o.digests[i]:
                    bad.append(o.paths[i])
            seen += idx.tolist()
            time.sleep(STEP_SLEEP)  # the GPU step
        assert not bad, f"epoch {epoch}: {len(bad)} files served with wrong bytes: {bad[:5]}"
        assert sorted(seen) == list(range(len(o.paths))), f"epoch {epoch}: not every file once"


# ---------------------------------------------------------------------------------------------
# Per-epoch numbers from the stats


def epoch_table(stats: dict, dataset_bytes: int) -> list[dict]:
    """The daemon's epochs that saw reads, with origin bytes as a fraction of the dataset."""
    rows = []
    for e in stats["epochs"]:
        if e["reads"] == 0:
            continue  # e.g. the epoch a plan was published in before the first read
        assert abs(e["hit_ratio"] - e["hits"] / e["reads"]) < 1e-6, e
        rows.append({
            "epoch": e["epoch"],
            "reads": e["reads"],
            "hits": e["hits"],
            "hit_ratio": e["hits"] / e["reads"],
            "origin_bytes": e["origin_bytes"],
            "origin_fraction": e["origin_bytes"] / dataset_bytes,
            "prefetched": e["prefetched"],
            "prefetch_unused": e["prefetch_unused"],
        })
    return rows


def format_table(name: str, rows: list[dict]) -> str:
    lines = [f"{name}:", "  epoch   reads    hits  hit ratio  origin bytes (x dataset)  "
             "prefetched  unused"]
    for r in rows:
        lines.append(f"  {r['epoch']:>5} {r['reads']:>7} {r['hits']:>7} {r['hit_ratio']:>10.3f}"
                     f"  {r['origin_bytes']:>12} ({r['origin_fraction']:.3f})"
                     f"  {r['prefetched']:>10} {r['prefetch_unused']:>7}")
    return "\n".join(lines)


def warm_hit_ratio(rows: list[dict]) -> float:
    """hits / reads over epochs 2..4: the first epoch fills the cache."""
    warm = rows[1:]
    return sum(r["hits"] for r in warm) / sum(r["reads"] for r in warm)


def check_epochs_detected(rows: list[dict], n_files: int, epochs: int, name: str) -> None:
    assert len(rows) == epochs, (
        f"{name}: the daemon counted {len(rows)} epochs with reads, not {epochs}:\n"
        f"{format_table(name, rows)}")
    total = sum(r["reads"] for r in rows)
    assert total == epochs * n_files, f"{name}: {total} reads counted, {epochs * n_files} made"
    for r in rows:
        assert abs(r["reads"] - n_files) <= EPOCH_READ_SLACK * n_files, (
            f"{name}: epoch {r['epoch']} holds {r['reads']} reads, not ~{n_files}: its "
            f"boundaries are off\n{format_table(name, rows)}")


# One entry per training run of this module, for the summary printed at the end.
RUNS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def _summary(tmp_path_factory):
    yield
    if not RUNS:
        return
    out = tmp_path_factory.mktemp("policies-summary") / "policies.json"
    out.write_text(json.dumps(RUNS, indent=2))
    print("\n\nper-epoch numbers from .epochfs/stats, dataset "
          f"{N_FILES} x {FILE_SIZE} B, cache c = {C}:")
    for name, run in RUNS.items():
        print(format_table(name, run["epochs"]))
        print(f"  epochs 2-4 hit ratio {run['warm_hit_ratio']}; run {run['seconds']:.1f} s")
    print(f"written to {out}")


def run_training(name: str, mounter, o: Origin, tmp_path: Path, policy: str,
                 plan_ahead: int | None = None, args=()) -> dict:
    """One fresh mount (fresh cache dir) with `policy`, 4 epochs of training through it
    (with a PlanSampler publishing each epoch's order if plan_ahead is not None), its stats.
    Returns the run's record (also in RUNS and in tmp_path/epochs-<name>.json)."""
    m = mounter(o.root, cache_size=cache_size_for(o), args=mount_args(policy, *args))
    assert m.stats()["policy"]["name"] == policy
    sampler = RandomSampler(range(len(o.paths)), generator=torch.Generator().manual_seed(7))
    if plan_ahead is not None:
        sampler = epochfs.PlanSampler(sampler, o.paths.__getitem__, m.mountpoint,
                                      plan_ahead=plan_ahead)
    start = time.monotonic()
    train(m.mountpoint, o, sampler)
    seconds = time.monotonic() - start
    stats = m.stats()
    rows = epoch_table(stats, o.total_bytes)
    run = {
        "policy": policy,
        "plan_ahead": plan_ahead,
        "epochs": rows,
        "warm_hit_ratio": round(warm_hit_ratio(rows), 4) if len(rows) > 1 else None,
        "seconds": seconds,
        "dataset_bytes": o.total_bytes,
        "cache_limit_bytes": stats["cache"]["limit_bytes"],
        "stats": {k: stats[k] for k in ("cache", "origin", "policy", "prefetch", "plans")},
    }
    RUNS[name] = run
    out = tmp_path / f"epochs-{name}.json"
    out.write_text(json.dumps(run, indent=2))
    print(f"\n{format_table(name, rows)}\n  epochs 2-4 hit ratio "
          f"{run['warm_hit_ratio']}; prefetch {stats['prefetch']}; plans {stats['plans']}; "
          f"{seconds:.1f} s; written to {out}")
    check_epochs_detected(rows, len(o.paths), EPOCHS, name)
    m.umount()
    return run


def run_of(name: str, mounter, o: Origin, tmp_path: Path) -> dict:
    """The run `name` of this module, made now if no earlier test made it."""
    if name not in RUNS:
        policy, plan_ahead = RUN_KINDS[name]
        run_training(name, mounter, o, tmp_path, policy, plan_ahead)
    return RUNS[name]


# name -> (policy, plan_ahead or None for no PlanSampler)
RUN_KINDS = {
    "lru": ("lru", None),
    "fixed": ("fixed", None),
    "epoch": ("epoch", None),
    "epoch+plan": ("epoch", 0),
    "epoch+plan_ahead": ("epoch", 1),
}


# ---------------------------------------------------------------------------------------------
# The acceptance test


def test_lru_thrashes(origin, mounter, tmp_path):
    # Random order over a dataset twice the cache: what LRU keeps from one epoch is evicted
    # before it is read again in the next one, more often than not.
    run = run_of("lru", mounter, origin, tmp_path)
    assert run["warm_hit_ratio"] < LRU_MAX, run["epochs"]


def test_fixed_keeps_half(origin, mounter, tmp_path):
    # fixed admits until full and then never evicts: about c of every later epoch hits.
    run = run_of("fixed", mounter, origin, tmp_path)
    assert run["warm_hit_ratio"] >= FIXED_MIN, run["epochs"]
    assert run["stats"]["cache"]["evictions"] == 0, run["stats"]["cache"]


def test_epoch_with_prefetch_beats_fixed(origin, mounter, tmp_path):
    run = run_of("epoch", mounter, origin, tmp_path)
    fixed = run_of("fixed", mounter, origin, tmp_path)
    assert run["stats"]["prefetch"]["prefetched"] > 0, run["stats"]["prefetch"]
    assert run["warm_hit_ratio"] > fixed["warm_hit_ratio"], (run["epochs"], fixed["epochs"])


@pytest.mark.parametrize("name", ["epoch+plan", "epoch+plan_ahead"])
def test_epoch_with_plan_hits_nearly_all(origin, mounter, tmp_path, name):
    # plan_ahead=0 publishes each epoch's order as it starts (the default); plan_ahead=1 also
    # publishes the next epoch's order then, so the daemon knows at every boundary which
    # blocks the next epoch reads first. Both must meet the numbers.
    run = run_of(name, mounter, origin, tmp_path)
    plans = run["stats"]["plans"]
    assert plans["published"] >= EPOCHS, plans
    assert plans["unknown_paths"] == 0, plans
    assert plans["rejected"] == 0 and plans["ignored"] == 0, plans
    assert run["warm_hit_ratio"] >= PLAN_MIN, run["epochs"]
    # Once warm, each epoch fetches from the origin only what the cache cannot hold: (1 - c)
    # of the dataset, with 5% for the cache's own overhead (metadata reserve, index).
    limit = PLAN_ORIGIN_MAX * (1 - C) * origin.total_bytes
    for row in run["epochs"][2:]:
        assert row["origin_bytes"] <= limit, (
            f"epoch {row['epoch']}: {row['origin_bytes']} origin bytes > {limit:.0f} "
            f"(1.05 x (1 - c) x dataset)\n{format_table(name, run['epochs'])}")


@pytest.mark.parametrize("consumed", [N_FILES // 4, 3 * N_FILES // 4])
def test_a_job_resumed_mid_epoch_continues_its_plan(origin, mounter, consumed):
    """A job planned its epochs with PlanSampler, died `consumed` samples into its second
    epoch, and a new process resumes it from the checkpoint (resume(consumed)): it publishes
    the rest of that epoch, the cache keeps what it holds, and the rest is served as a planned
    epoch would be, every byte right."""
    m = mounter(origin.root, cache_size=cache_size_for(origin), args=mount_args("epoch"))
    n = len(origin.paths)

    def job():
        g = torch.Generator().manual_seed(11)
        return g, epochfs.PlanSampler(RandomSampler(range(n), generator=g),
                                      origin.paths.__getitem__, m.mountpoint)
    g, first = job()
    train(m.mountpoint, origin, first, epochs=1)
    state = g.get_state()  # the checkpoint at the start of epoch 2 saves its sampler's state
    ds = MountedFiles(m.mountpoint, origin.paths)
    loader = DataLoader(ds, batch_size=BATCH, sampler=first, num_workers=WORKERS)
    done = []
    for idx, data in loader:  # the first job dies `consumed` samples into epoch 2
        done += idx.tolist()
        time.sleep(STEP_SLEEP)
        if len(done) >= consumed:
            break
    del loader
    done = done[:consumed]
    before = m.stats()
    g2, resumed = job()
    g2.set_state(state)
    resumed.resume(consumed)
    assert len(resumed) == n - consumed
    loader = DataLoader(ds, batch_size=BATCH, sampler=resumed, num_workers=WORKERS)
    rest, bad = [], []
    for idx, data in loader:
        for i, row in zip(idx.tolist(), data):
            if digest(row.numpy()) != origin.digests[i]:
                bad.append(origin.paths[i])
        rest += idx.tolist()
        time.sleep(STEP_SLEEP)
    assert not bad, f"{len(bad)} files served with wrong bytes: {bad[:5]}"
    assert sorted(done + rest) == list(range(n)), "the resumed epoch is not the interrupted one"
    after = m.stats()
    plans = {k: after["plans"][k] - before["plans"][k] for k in ("published", "paths")}
    assert plans == {"published": 1, "paths": n - consumed}, plans
    hits = after["cache"]["hits"] - before["cache"]["hits"]
    misses = after["cache"]["misses"] - before["cache"]["misses"]
    print(f"\nresumed after {consumed}: hit ratio {hits / (hits + misses):.3f} over the rest; "
          f"plans {after['plans']}; policy {after['policy']}")
    # The cache kept what it held for the rest: above the cache fraction (c = 0.5) whatever
    # the prefetchers manage meanwhile, since at the resume the cache holds the blocks needed
    # soonest. (Measured: 0.91-0.92 on an idle machine, 0.72 under a loaded CI run; the first
    # samples of the rest were read once already by the dead job's loader, which ran ahead of
    # its checkpoint, and may have gone as the first victims since.)
    assert hits / (hits + misses) >= 0.6, (hits, misses, after["plans"], after["policy"])
    # Nothing of the dead job's plan is left over to steer prefetch or protect blocks: the
    # daemon replaced its remainder with the resumed rest (before resume plans, a new job's
    # rest joined the old plan epoch or queued after it, and 500-1,500 planned reads stayed).
    assert after["policy"]["plan_remaining_blocks"] == 0, after["policy"]
    assert after["policy"]["active_plans"] == 0, after["policy"]


# ---------------------------------------------------------------------------------------------
# The plan file on a real mount


@pytest.fixture
def small(dataset):
    """40 files of 96 KiB in two folders, plus an empty folder."""
    ds = dataset({f"d{i % 2}/f{i:02d}.bin": FILE_SIZE for i in range(40)}, seed=41)
    (ds.root / "empty").mkdir()
    return ds


def plan_path(m) -> Path:
    return m.mountpoint / ".epochfs" / "plan"


def epochfs_plan(m, source: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`epochfs plan MOUNTPOINT SOURCE` (SOURCE "-": `stdin` is its input)."""
    return subprocess.run([epochfs_bin(), "plan", str(m.mountpoint), source],
                          input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=60)


def test_plan_cli_publishes_from_a_file_and_from_stdin(small, mounter, tmp_path):
    m = mounter(small.root, args=mount_args("epoch"))
    listing = tmp_path / "order.txt"
    listing.write_text("# epoch 1\nd0/f00.bin\nd1/f01.bin\nnope.bin\n")
    res = epochfs_plan(m, str(listing))
    assert res.returncode == 0, res.stderr
    assert "plan of 3 paths" in res.stdout and "2 files" in res.stdout, res.stdout
    assert "1 unknown" in res.stdout, res.stdout
    plans = m.stats()["plans"]
    assert plans["published"] == 1 and plans["paths"] == 3 and plans["unknown_paths"] == 1
    assert plans["planned_files"] == 2, plans
    # From stdin, larger than one ioctl chunk (16 KiB): still one plan.
    lines = [f"d{i % 2}/f{i:02d}.bin" for i in range(40)] * 60
    res = epochfs_plan(m, "-", stdin="".join(p + "\n" for p in lines))
    assert res.returncode == 0, res.stderr
    plans = m.stats()["plans"]
    assert plans["published"] == 2 and plans["paths"] == 3 + len(lines), plans
    # Absolute paths under the mountpoint, as `find MOUNTPOINT -type f` prints them.
    found = subprocess.run(["find", str(m.mountpoint / "d0"), "-type", "f"],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    res = epochfs_plan(m, "-", stdin=found)
    assert res.returncode == 0, res.stderr
    assert "plan of 20 paths" in res.stdout and "20 files" in res.stdout, res.stdout
    res = epochfs_plan(m, "-", stdin="d0/f00.bin\n/elsewhere/f.bin\n")
    assert res.returncode == 1 and "line 2 ('/elsewhere/f.bin'): absolute but not under" \
        in res.stderr, res.stderr
    assert m.stats()["plans"]["published"] == 3


def test_plan_cli_resume_replaces_the_rest_of_the_epoch(small, mounter):
    m = mounter(small.root, args=mount_args("epoch", "--prefetch-threads", "0"))
    names = [f"d{i % 2}/f{i:02d}.bin" for i in range(40)]
    res = epochfs_plan(m, "-", stdin="".join(n + "\n" for n in names))
    assert res.returncode == 0, res.stderr
    for n in names[:10]:  # the job reads a quarter of its epoch, then dies
        assert read_file(m.mountpoint / n) == small.files[n]
    assert m.stats()["policy"]["plan_remaining_blocks"] == 30
    rest = names[10:][::-1]  # the restarted job's rest, in its own order
    res = subprocess.run([epochfs_bin(), "plan", "--resume", str(m.mountpoint), "-"],
                         input="".join(n + "\n" for n in rest), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "plan of 30 paths" in res.stdout, (res.stdout, res.stderr)
    p = m.stats()["policy"]
    assert p["plan_remaining_blocks"] == 30 and p["active_plans"] == 1, p
    for n in rest[:20]:
        assert read_file(m.mountpoint / n) == small.files[n]
    assert m.stats()["policy"]["plan_remaining_blocks"] == 10
    # Resumed again with nothing left (the job stops here): nothing stays planned.
    res = subprocess.run([epochfs_bin(), "plan", "--resume", str(m.mountpoint), "-"], input="",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert m.stats()["policy"]["plan_remaining_blocks"] == 0


def test_malformed_plan_is_refused_naming_the_line(small, mounter, tmp_path):
    m = mounter(small.root, args=mount_args("epoch"))
    bad = tmp_path / "bad.txt"
    bad.write_text("d0/f00.bin\n# a comment\nd1/../d0/f02.bin\n")
    res = epochfs_plan(m, str(bad))
    assert res.returncode != 0, "a plan with a '..' component was accepted"
    assert "line 3 ('d1/../d0/f02.bin')" in res.stderr and "'..' component" in res.stderr, \
        res.stderr
    assert "not published" in res.stderr, res.stderr
    plans = m.stats()["plans"]
    assert plans["rejected"] == 1 and plans["published"] == 0, plans

    # From Python: a line the package does not check itself (the daemon's line limit: a path
    # of 4096 bytes and a range) is a ValueError with the daemon's reason; nothing of the plan
    # is published.
    with pytest.raises(ValueError, match="rejected the plan") as ei:
        epochfs.publish_plan(m.mountpoint, ["d0/f00.bin", "d1/" + "x" * 5000])
    assert "line 2" in str(ei.value) and "longer than 4138 bytes" in str(ei.value), ei.value
    assert str(plan_path(m)) in str(ei.value)
    plans = m.stats()["plans"]
    assert plans["rejected"] == 2 and plans["published"] == 0, plans
    assert plans["planned_files"] == 0, plans
    # A valid plan is still accepted after the rejected ones.
    assert epochfs.publish_plan(m.mountpoint, ["d0/f00.bin", "d1/f01.bin"]) == 2
    plans = m.stats()["plans"]
    assert plans["published"] == 1 and plans["planned_files"] == 2, plans


def test_writing_the_plan_file_fails_with_erofs(small, mounter):
    """The old way (write the plan to .epochfs/plan) is refused by the kernel, and a
    descriptor closed without a commit publishes nothing."""
    m = mounter(small.root, args=mount_args("epoch"))
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
        expect_errno(errno.EROFS, os.open, plan_path(m), flags)
    res = subprocess.run(["bash", "-c", 'printf "d0/f00.bin\\n" > "$1"', "bash",
                          str(plan_path(m))], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert res.returncode != 0 and "Read-only file system" in res.stderr, res
    fd = os.open(plan_path(m), os.O_RDONLY)
    try:
        expect_errno(errno.EBADF, os.write, fd, b"d0/f00.bin\n")
        epochfs._control.plan_append(fd, b"d0/f00.bin\n", str(plan_path(m)))
    finally:
        os.close(fd)  # no commit: discarded
    plans = m.stats()["plans"]
    assert plans["published"] == 0 and plans["rejected"] == 0 and plans["paths"] == 0, plans
    assert "discarded: closed after 1 lines without a commit" in \
        m.log_file.read_text(errors="replace"), m.log_tail()


def test_unknown_plan_paths_counted_and_skipped(small, mounter):
    m = mounter(small.root, args=mount_args("epoch"))
    paths = ["d0/f00.bin", "nope/missing.bin", "d1/f01.bin", "empty", "d0/f99.bin"]
    assert epochfs.publish_plan(m.mountpoint, paths) == 5
    plans = m.stats()["plans"]
    assert plans["published"] == 1, plans
    assert plans["paths"] == 5, plans
    assert plans["unknown_paths"] == 3, plans  # two missing files and a directory
    assert plans["planned_files"] == 2 and plans["planned_blocks"] == 2, plans
    log = m.log_file.read_text(errors="replace")
    assert "3 of 5 paths skipped as unknown" in log and "nope/missing.bin" in log, m.log_tail()


def test_plan_file_is_read_only_and_reads_empty(small, mounter):
    m = mounter(small.root, args=mount_args("epoch"))
    assert (plan_path(m).stat().st_mode & 0o777) == 0o444
    assert plan_path(m).read_bytes() == b""
    assert not os.access(plan_path(m), os.W_OK)


def read_in_order(mountpoint: Path, rels, expect: dict[str, bytes]) -> list[str]:
    """Reads each file, dropping its pages (see MountedFiles); returns the wrong ones."""
    bad = []
    for rel in rels:
        with open(mountpoint / rel, "rb", buffering=0) as f:
            data = f.read()
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        if data != expect[rel]:
            bad.append(rel)
    return bad


def test_plan_of_an_epoch_that_never_comes_is_discarded(small, mounter):
    """A job planned one epoch ahead and stopped: the plan it published for the next epoch is
    dropped once the reader, reading without plans, is two epochs past its publication."""
    m = mounter(small.root, args=mount_args("epoch"))
    order = sorted(small.files)
    read, never = order[:30], order[30:]
    epochfs.publish_plan(m.mountpoint, read)
    epochfs.publish_plan(m.mountpoint, never)  # plan_ahead=1: the next epoch's order too
    assert m.stats()["policy"]["active_plans"] == 2
    assert read_in_order(m.mountpoint, read, small.files) == []
    rng = random.Random(5)
    for epoch in (2, 3):
        shuffled = read[:]
        rng.shuffle(shuffled)
        assert read_in_order(m.mountpoint, shuffled, small.files) == []
        s = m.stats()
        assert s["epochs"][-1]["epoch"] == epoch, s["epochs"]
        assert s["policy"]["active_plans"] == (1 if epoch == 2 else 0), s["policy"]
        assert s["plans"]["discarded"] == (0 if epoch == 2 else 1), s["plans"]
    assert not m.stats()["policy"]["plan_active"]
    log = m.log_file.read_text(errors="replace")
    assert log.count("plan epoch(s) discarded unread at epoch 3") == 1, m.log_tail()
    out = run_cli("stats", m.mountpoint, check=True).stdout
    assert "0 ignored by the policy, 1 discarded unread" in out, out


def test_stats_text_shows_policy_prefetch_and_epochs(small, mounter):
    m = mounter(small.root, args=mount_args("epoch", "--prefetch-threads", "3"))
    order = sorted(small.files)
    epochfs.publish_plan(m.mountpoint, order)
    assert read_in_order(m.mountpoint, order, small.files) == []
    epochfs.publish_plan(m.mountpoint, order)
    assert read_in_order(m.mountpoint, order, small.files) == []
    out = run_cli("stats", m.mountpoint, check=True).stdout
    print(out)
    lines = out.splitlines()
    assert any(line.startswith("policy  epoch, epoch ") for line in lines), out
    assert any(line.startswith("prefetch 3 threads: ") for line in lines), out
    assert any(line.startswith("plans   2 published (80 paths, 0 unknown), 0 rejected")
               for line in lines), out
    header = [i for i, line in enumerate(lines) if line.split()[:3] == ["epoch", "reads", "hit"]]
    assert len(header) == 1, out
    rows = [line.split() for line in lines[header[0] + 1:]]
    assert len(rows) >= 2, out
    assert sum(int(r[1]) for r in rows) == 80, out  # the reads column: 2 x 40 files
    assert rows[-1][2].endswith("%"), out
    assert len(m.stats()["epochs"]) == len(rows)


# Two ranks, each publishing plans for its half and reading it, concurrently.

RANKS = 2
RANK_FILES = 400  # per rank: 800 files of 96 KiB (75 MiB) in all, the cache half of it
RANK_EPOCHS = 3
RANK_MIN = 0.9  # hits / reads over epochs 2-3; see the test for what was measured


def rank_main(rank: int, mountpoint: str, paths: list[str], digests: list[bytes], barrier,
              errors) -> None:
    """One rank (a process): per epoch, publishes its half's shuffled order as a plan, then a
    reader process of its own (like a DataLoader worker: not the publishing process) reads
    it. The barrier keeps the ranks in the same epoch, as a synchronous training step does."""
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(100 + rank)
    mine = list(range(rank, len(paths), RANKS))
    try:
        for _ in range(RANK_EPOCHS):
            order = mine[:]
            rng.shuffle(order)
            barrier.wait(60)
            epochfs.publish_plan(mountpoint, (paths[i] for i in order))
            reader = ctx.Process(target=rank_reader,
                                 args=(mountpoint, [paths[i] for i in order],
                                       [digests[i] for i in order], errors))
            reader.start()
            reader.join(120)
            if reader.exitcode != 0:
                errors.put(f"rank {rank}: reader exited {reader.exitcode}")
            barrier.wait(60)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.put(f"rank {rank}: {e!r}")
        barrier.abort()


def rank_reader(mountpoint: str, rels: list[str], digests: list[bytes], errors) -> None:
    for rel, d in zip(rels, digests):
        with open(os.path.join(mountpoint, rel), "rb", buffering=0) as f:
            data = f.read()
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # see MountedFiles
        if digest(data) != d:
            errors.put(f"{rel}: wrong bytes")


def test_two_ranks_publishing_and_reading_halves_concurrently(tmp_path, mounter):
    o = write_origin(tmp_path / "origin2", RANKS * RANK_FILES, seed=5)
    m = mounter(o.root, cache_size=cache_size_for(o), args=mount_args("epoch"))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(RANKS)
    errors = ctx.Queue()
    ranks = [ctx.Process(target=rank_main, args=(r, str(m.mountpoint), o.paths, o.digests,
                                                 barrier, errors))
             for r in range(RANKS)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert all(p.exitcode == 0 for p in ranks), [p.exitcode for p in ranks]
    assert not found, found[:5]

    stats = m.stats()
    rows = epoch_table(stats, o.total_bytes)
    print(f"\n{format_table('two ranks, epoch + plans', rows)}\n  plans {stats['plans']}; "
          f"prefetch {stats['prefetch']}")
    check_epochs_detected(rows, len(o.paths), RANK_EPOCHS, "two ranks")
    plans = stats["plans"]
    assert plans["published"] == RANKS * RANK_EPOCHS, plans
    assert plans["unknown_paths"] == 0 and plans["rejected"] == 0, plans
    # Measured 0.99-1.0 over epochs 2-3 (idle machine, and with two busy loops on its two
    # cores): each rank's plan lets the prefetchers run ahead of both readers. Misses are reads
    # that overtake the prefetchers (joining a prefetch in flight counts as a miss), mostly
    # right after an epoch boundary; 0.9 leaves room for a slower machine.
    # Not asserted: origin bytes. The plan for epoch e+1 that arrives first lets the
    # prefetchers evict the other rank's blocks (read this epoch, in no plan yet) before that
    # rank's plan arrives; they are then fetched again: epochs 1-2 fetch up to 0.2 x dataset
    # more than (1 - c) when the two plans arrive ~0.1 s apart (see the report of issue 4).
    assert warm_hit_ratio(rows) >= RANK_MIN, rows
