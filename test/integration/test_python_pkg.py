"""The epochfs Python package (python/): what publish_plan sends (exact bytes, in chunks, to a
fake daemon that stands in for the mount's ioctls), path checks, a directory that is not a
mount, EINVAL from the daemon, the ioctl numbers against fs/ControlIoctl.h, PlanSampler over
Random/Sequential/DistributedSampler with and without plan_ahead, a DataLoader with workers
through it, and `pip install ./python` offline into a fresh venv (publishing to a real mount).
Plans on real mounts are also tested in test_policies.py.

The package is imported from the source tree; the install tests import it from a venv."""

from __future__ import annotations

import errno
import functools
import json
import os
import pickle
import stat
import subprocess
import sys
import threading
import warnings
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYDIR = REPO / "python"
sys.path.insert(0, str(PYDIR))

import epochfs  # noqa: E402
import epochfs._control  # noqa: E402
from epochfs import NotAnEpochfsMount, publish_plan, read_stats  # noqa: E402

# Debian's Python: the one with python3-venv, python3-pip and python3-torch.
SYSTEM_PYTHON = "/usr/bin/python3"
PIP_TIMEOUT = 180


def make_fake_mount(root: Path, plan: bool = True, stats: dict | None = None) -> Path:
    """A directory that looks like a mount root to the client: .epochfs/stats (JSON) and
    .epochfs/plan (unless plan=False), a regular file that FakeDaemon serves ioctls on."""
    ctl = root / ".epochfs"
    ctl.mkdir(parents=True)
    (ctl / "stats").write_text(json.dumps(stats if stats is not None else {"hits": 7}))
    if plan:
        (ctl / "plan").write_bytes(b"")
    return root


class FakeDaemon:
    """Stands in for the daemon's ioctls (epochfs._control._ioctl) on the fake plan files:
    appends collect per descriptor; a commit writes the plan to the plan file itself (so a
    test reads the last committed plan) and replies with its line count. `fail` = (command, errno,
    reason) makes that command fail, with `reason` for IOC_LAST_ERROR."""

    def __init__(self, real):
        self.real = real
        self.pending: dict[int, bytearray] = {}
        self.calls: list[tuple[int, int]] = []  # (command, chunk length or 0)
        self.flags: dict[int, int] = {}  # per descriptor: the flags of its plan's chunks
        self.committed_flags: list[int] = []  # per commit
        self.fail: tuple[int, int, str] | None = None
        self.last_error = ""

    def __call__(self, fd, request, arg=0, *rest):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.name != "plan" or path.parent.name != ".epochfs":
            return self.real(fd, request, arg, *rest)
        c = epochfs._control
        if request == c.IOC_LAST_ERROR:
            msg = self.last_error.encode()
            arg[:len(msg) + 1] = msg + b"\0"
            return 0
        length = 0
        if request == c.IOC_PLAN_APPEND:
            assert isinstance(arg, bytearray) and len(arg) == c._PLAN_CHUNK.size
            length, flags, data = c._PLAN_CHUNK.unpack(arg)
            assert length <= c.PLAN_CHUNK_BYTES and (length > 0 or flags)
            self.flags[fd] = self.flags.get(fd, 0) | flags
        self.calls.append((request, length))
        if self.fail is not None and self.fail[0] == request:
            self.last_error = self.fail[2]
            raise OSError(self.fail[1], os.strerror(self.fail[1]))
        self.last_error = ""
        if request == c.IOC_PLAN_APPEND:
            self.pending.setdefault(fd, bytearray()).extend(data[:length])
        elif request == c.IOC_PLAN_COMMIT:
            plan = bytes(self.pending.pop(fd, b""))
            self.committed_flags.append(self.flags.pop(fd, 0))
            path.write_bytes(plan)
            n = plan.count(b"\n")
            arg[:] = c._PLAN_RESULT.pack(n, 0, n, 0, 0, 0)
        else:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        return 0


@pytest.fixture
def daemon(monkeypatch) -> FakeDaemon:
    fake = FakeDaemon(epochfs._control._ioctl)
    monkeypatch.setattr(epochfs._control, "_ioctl", fake)
    return fake


@pytest.fixture
def mnt(tmp_path, daemon) -> Path:
    return make_fake_mount(tmp_path / "mnt")


@pytest.fixture
def real_mnt(dataset, mounter):
    """A real epochfs mount, for code run in a subprocess (which the fake daemon cannot
    reach): the files the plans of these tests name."""
    ds = dataset({"a/b.jpg": 10, "c": 20, "f3": 1, "f1": 1, "f2": 1, "x": 1})
    return mounter(ds.root)


def plan_of(mount: Path) -> bytes:
    return (mount / ".epochfs" / "plan").read_bytes()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------------------------
# publish_plan: what reaches the plan file


def test_publish_writes_exact_lines(mnt):
    paths = ["train/cat/001.jpg", Path("train/dog/042.jpg"), str(mnt / "val" / "x.png"),
             mnt / "ünï/cödé ß.jpg", "a b/#not-a-comment", "top"]
    assert publish_plan(mnt, paths) == 6
    assert plan_of(mnt) == ("train/cat/001.jpg\ntrain/dog/042.jpg\nval/x.png\n"
                            "ünï/cödé ß.jpg\na b/#not-a-comment\ntop\n").encode("utf-8")


def test_a_resuming_plan_flags_every_chunk_and_an_empty_one_is_still_sent(mnt, daemon):
    publish_plan(mnt, ["a", "b"], resume=True)
    publish_plan(mnt, [], resume=True)
    publish_plan(mnt, ["c"])
    assert daemon.committed_flags == [epochfs._control.PLAN_RESUMES] * 2 + [0]
    assert [n for cmd, n in daemon.calls if cmd == epochfs._control.IOC_PLAN_APPEND] == [4, 0, 2]


def test_publish_accepts_any_iterable_and_an_empty_plan(mnt):
    assert publish_plan(mnt, (f"f{i}" for i in range(3))) == 3
    assert plan_of(mnt) == b"f0\nf1\nf2\n"
    (mnt / ".epochfs" / "plan").write_bytes(b"")
    assert publish_plan(str(mnt), []) == 0
    assert plan_of(mnt) == b""


def test_publish_sends_chunks_of_whole_lines_then_one_commit(mnt, daemon):
    """~1.9 MB of paths: chunks of whole lines of at most CHUNK_BYTES (not one ioctl per
    path), in order, then one commit; the daemon gets exactly the lines."""
    paths = [f"class{i % 100:03d}/image_{i:07d}.JPEG" for i in range(60000)]
    expected = "".join(p + "\n" for p in paths).encode()
    assert publish_plan(mnt, paths) == len(paths)
    assert plan_of(mnt) == expected
    c = epochfs._control
    appends = [n for cmd, n in daemon.calls if cmd == c.IOC_PLAN_APPEND]
    assert [cmd for cmd, _ in daemon.calls] == [c.IOC_PLAN_APPEND] * len(appends) + \
        [c.IOC_PLAN_COMMIT]
    assert sum(appends) == len(expected)
    assert all(n <= epochfs.CHUNK_BYTES for n in appends)
    longest = max(len(p) for p in paths) + 1
    assert all(n > epochfs.CHUNK_BYTES - longest for n in appends[:-1])  # full chunks
    assert epochfs.CHUNK_BYTES == c.PLAN_CHUNK_BYTES == 16368


def test_a_line_longer_than_a_chunk_is_sent_in_pieces(mnt, daemon):
    # The daemon refuses lines over 4096 bytes; the client leaves that check to it.
    long = "d/" + "x" * (2 * epochfs.CHUNK_BYTES)
    assert publish_plan(mnt, ["a", long, "b"]) == 3
    assert plan_of(mnt) == f"a\n{long}\nb\n".encode()
    appends = [n for cmd, n in daemon.calls if cmd == epochfs._control.IOC_PLAN_APPEND]
    assert len(appends) == 5 and max(appends) == epochfs.CHUNK_BYTES, appends


def test_ioctl_numbers_match_the_header():
    import re
    header = (REPO / "fs" / "ControlIoctl.h").read_text()
    c = epochfs._control
    consts = dict(re.findall(r"inline constexpr \w+ (k\w+) = (0x[0-9A-Fa-f]+|\d+);", header))
    assert int(consts["kPlanChunkBytes"], 0) == c.PLAN_CHUNK_BYTES
    assert int(consts["kControlErrorBytes"], 0) == c.CONTROL_ERROR_BYTES
    assert int(consts["kControlIoctlType"], 0) == 0xEF
    for name, ours in [("kIocPlanAppend", c.IOC_PLAN_APPEND), ("kIocPlanCommit",
                       c.IOC_PLAN_COMMIT), ("kIocPlanAbort", c.IOC_PLAN_ABORT),
                       ("kIocLastError", c.IOC_LAST_ERROR), ("kIocRefresh", c.IOC_REFRESH)]:
        assert int(consts[name], 0) == ours, name

    # And each number is what _IOW/_IOR/_IO make of the struct sizes packed here (the header
    # checks its literals against the kernel's macros at compile time).
    def ioc(direction, nr, size):
        return (direction << 30) | (size << 16) | (0xEF << 8) | nr
    assert c.IOC_PLAN_APPEND == ioc(1, 1, c._PLAN_CHUNK.size)
    assert c.IOC_PLAN_COMMIT == ioc(2, 2, c._PLAN_RESULT.size)
    assert c.IOC_PLAN_ABORT == ioc(0, 3, 0)
    assert c.IOC_LAST_ERROR == ioc(2, 4, c.CONTROL_ERROR_BYTES)
    assert c.IOC_REFRESH == ioc(0, 5, 0)


@pytest.mark.parametrize("path,reason", [
    ("", "empty"),
    ("a//b", "empty component"),
    ("a/b/", "empty component"),
    ("./a", "'.' component"),
    ("a/./b", "'.' component"),
    ("../a", "'..' component"),
    ("a/..", "'..' component"),
    ("a\0b", "NUL"),
    ("a\nb", "newline"),
    ("#hidden", "comment"),
    ("/elsewhere/a.jpg", "not under the mountpoint"),
    ("\udcff.jpg", "UTF-8"),
])
def test_bad_paths_raise_naming_path_and_reason(mnt, path, reason):
    with pytest.raises(ValueError) as ei:
        publish_plan(mnt, ["good/first.jpg", path])
    assert repr(path) in str(ei.value)
    assert reason in str(ei.value)
    assert plan_of(mnt) == b""  # nothing of the plan was written, not even the good path


def test_absolute_path_checks(tmp_path, mnt, monkeypatch):
    for bad, reason in [(str(mnt), "mount root"), (str(mnt) + "/", "mount root"),
                        (str(mnt) + "//a", "empty component"),
                        (str(mnt) + "x/a.jpg", "not under the mountpoint")]:
        with pytest.raises(ValueError, match=reason):
            publish_plan(mnt, [bad])
    with pytest.raises(TypeError, match="str or os.PathLike"):
        publish_plan(mnt, [3])
    # The mountpoint spelled through a symlink, or relative: absolute paths under its real
    # location and under its spelling are both accepted.
    link = tmp_path / "link"
    link.symlink_to(mnt)
    assert publish_plan(link, [f"{mnt}/a", f"{link}/b", "c"]) == 3
    assert plan_of(mnt) == b"a\nb\nc\n"
    monkeypatch.chdir(tmp_path)
    assert publish_plan("mnt", [f"{mnt}/d", "e"]) == 2
    assert plan_of(mnt).startswith(b"d\ne\n")


def test_not_a_mount(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for where in (plain, tmp_path / "missing", tmp_path / "file"):
        if where.name == "file":
            where.write_text("x")
        with pytest.raises(NotAnEpochfsMount) as ei:
            publish_plan(where, ["a"])
        assert isinstance(ei.value, OSError) and ei.value.errno == errno.ENOENT
        assert str(where) in str(ei.value) and "not an epochfs mount" in str(ei.value)
        with pytest.raises(NotAnEpochfsMount):
            read_stats(where)
        assert not epochfs.is_epochfs_mount(where)
    assert not list(plain.iterdir())  # nothing created


def test_mount_without_plan_support(tmp_path):
    old = make_fake_mount(tmp_path / "old", plan=False)
    assert epochfs.is_epochfs_mount(old)
    with pytest.raises(OSError, match="does not accept plans") as ei:
        publish_plan(old, ["a"])
    assert ei.value.errno == errno.ENOENT
    assert ei.value.filename == str(old / ".epochfs" / "plan")
    assert not (old / ".epochfs" / "plan").exists()  # not created by the client


@pytest.mark.parametrize("where", ["append", "commit"])
def test_einval_from_the_daemon_is_a_value_error_with_its_reason(mnt, daemon, where):
    c = epochfs._control
    command = c.IOC_PLAN_APPEND if where == "append" else c.IOC_PLAN_COMMIT
    daemon.fail = (command, errno.EINVAL, "line 2 ('b'): something is wrong with it")
    plan_file = str(mnt / ".epochfs" / "plan")
    before = open_fds()
    with pytest.raises(ValueError, match="rejected the plan") as ei:
        publish_plan(mnt, ["a", "b"])
    assert plan_file in str(ei.value)
    assert "line 2 ('b'): something is wrong with it" in str(ei.value)
    assert isinstance(ei.value.__cause__, OSError) and ei.value.__cause__.errno == errno.EINVAL
    assert open_fds() == before
    assert plan_of(mnt) == b""  # nothing committed
    if where == "append":
        assert c.IOC_PLAN_COMMIT not in [cmd for cmd, _ in daemon.calls]


def test_other_errors_stay_oserrors_naming_the_plan(mnt, daemon):
    daemon.fail = (epochfs._control.IOC_PLAN_APPEND, errno.EIO, "")
    before = open_fds()
    with pytest.raises(OSError) as ei:
        publish_plan(mnt, ["a"])
    assert ei.value.errno == errno.EIO and not isinstance(ei.value, ValueError)
    assert ei.value.filename == str(mnt / ".epochfs" / "plan")
    assert open_fds() == before


def test_a_daemon_without_the_ioctls_is_named(mnt, daemon):
    daemon.fail = (epochfs._control.IOC_PLAN_APPEND, errno.ENOTTY, "")
    with pytest.raises(OSError, match="does not take control ioctls") as ei:
        publish_plan(mnt, ["a"])
    assert ei.value.errno == errno.ENOTTY


def test_read_stats(tmp_path):
    mount = make_fake_mount(tmp_path / "m", stats={"hits": 3, "cache": {"bytes": 10}})
    assert read_stats(mount) == {"hits": 3, "cache": {"bytes": 10}}
    (mount / ".epochfs" / "stats").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON") as ei:
        read_stats(mount)
    assert str(mount / ".epochfs" / "stats") in str(ei.value)


def _run_python(code: str, *, cwd, python: str = SYSTEM_PYTHON, extra_path=(PYDIR,),
                env_update: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(map(str, extra_path))
    env.update(env_update or {})
    res = subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, f"stdout: {res.stdout}\nstderr: {res.stderr}"
    return res


def test_import_does_not_import_torch(tmp_path, real_mnt):
    _run_python(
        "import sys, epochfs\n"
        "assert 'torch' not in sys.modules\n"
        f"assert epochfs.publish_plan({str(real_mnt.mountpoint)!r}, ['x']) == 1\n"
        "assert 'torch' not in sys.modules\n", cwd=tmp_path)
    plans = real_mnt.stats()["plans"]
    assert plans["published"] == 1 and plans["paths"] == 1 and plans["unknown_paths"] == 0


def test_plansampler_without_torch(tmp_path, real_mnt):
    """With torch unimportable, PlanSampler is a plain class that works the same."""
    _run_python(
        "import sys\n"
        "sys.modules['torch'] = None  # makes `import torch` raise ImportError\n"
        "import epochfs\n"
        "s = epochfs.PlanSampler([3, 1, 2], lambda i: f'f{i}', "
        + repr(str(real_mnt.mountpoint)) + ")\n"
        "assert type(s).__mro__[1].__module__ == 'epochfs.sampler', type(s).__mro__\n"
        "assert list(s) == [3, 1, 2] and len(s) == 3\n", cwd=tmp_path)
    plans = real_mnt.stats()["plans"]
    assert plans["published"] == 1 and plans["paths"] == 3 and plans["planned_files"] == 3


# ---------------------------------------------------------------------------------------------
# PlanSampler


class Plans(list):
    """The plans published (each a list of lines), and for each whether it resumed."""

    def __init__(self):
        super().__init__()
        self.resumed: list[bool] = []


@pytest.fixture
def plans(mnt, monkeypatch) -> list[list[str]]:
    """Every plan PlanSampler publishes to `mnt`, as a list of lines: the real publish_plan
    writes the plan file, then this reads and empties it (one plan per publish)."""
    import epochfs.sampler
    published = Plans()
    real = epochfs.sampler.publish_plan
    plan_file = mnt / ".epochfs" / "plan"

    def recording(mountpoint, paths, resume=False):
        n = real(mountpoint, paths, resume=resume)
        published.resumed.append(resume)
        lines = plan_file.read_bytes().decode().splitlines()
        assert len(lines) == n
        published.append(lines)
        plan_file.write_bytes(b"")
        return n

    monkeypatch.setattr(epochfs.sampler, "publish_plan", recording)
    return published


def rel_path(i: int) -> str:
    return f"data/{i:04d}.bin"


def abs_path_under(mount: Path, i: int) -> str:
    return str(mount / rel_path(i))


def expect(order) -> list[str]:
    return [rel_path(i) for i in order]


def test_plansampler_random_publishes_each_epoch_before_yielding(mnt, plans):
    torch = pytest.importorskip("torch")
    from torch.utils.data import RandomSampler, Sampler
    g = torch.Generator().manual_seed(1)
    sampler = epochfs.PlanSampler(RandomSampler(range(40), generator=g),
                                  functools.partial(abs_path_under, mnt), mnt)
    assert isinstance(sampler, Sampler) and len(sampler) == 40
    orders = []
    for epoch in range(3):
        it = iter(sampler)
        assert len(plans) == epoch  # drawn lazily, at the first next(), like RandomSampler
        first = next(it)
        assert len(plans) == epoch + 1
        orders.append([first, *it])
        assert sorted(orders[-1]) == list(range(40))
        assert plans[epoch] == expect(orders[-1])
    assert orders[0] != orders[1] != orders[2]
    # Exactly the orders of the same RandomSampler unwrapped (plan_ahead=0 changes no draw).
    ref = RandomSampler(range(40), generator=torch.Generator().manual_seed(1))
    assert orders == [list(ref) for _ in range(3)]


def test_plansampler_sequential_with_relative_paths(mnt, plans):
    pytest.importorskip("torch")
    from torch.utils.data import SequentialSampler
    sampler = epochfs.PlanSampler(SequentialSampler(range(5)), rel_path, mnt)
    sampler.set_epoch(4)  # no set_epoch on SequentialSampler: recorded, not forwarded
    assert list(sampler) == [0, 1, 2, 3, 4]
    assert plans == [expect(range(5))]


def distributed(n=30, rank=0, **kw):
    from torch.utils.data import DistributedSampler
    return DistributedSampler(range(n), num_replicas=2, rank=rank, shuffle=True, seed=5, **kw)


def reference_order(epoch: int, rank: int = 0) -> list[int]:
    ref = distributed(rank=rank)
    ref.set_epoch(epoch)
    return list(ref)


@pytest.mark.parametrize("rank", [0, 1])
def test_plansampler_distributed_forwards_set_epoch(mnt, plans, rank):
    pytest.importorskip("torch")
    inner = distributed(rank=rank)
    sampler = epochfs.PlanSampler(inner, rel_path, mnt)
    assert len(sampler) == len(inner) == 15
    for epoch in range(3):
        sampler.set_epoch(epoch)
        assert inner.epoch == epoch
        order = list(sampler)
        assert order == reference_order(epoch, rank)
        assert plans[-1] == expect(order)
    assert len(plans) == 3 and plans[0] != plans[1]


def test_plan_ahead_distributed_publishes_the_next_epoch_early(mnt, plans):
    pytest.importorskip("torch")
    inner = distributed()
    sampler = epochfs.PlanSampler(inner, rel_path, mnt, plan_ahead=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        it = iter(sampler)
        first = next(it)
        # This epoch's plan, then the next one's, both before the first index is used;
        # the inner sampler is back at this epoch after the look-ahead.
        assert len(plans) == epoch + 2
        assert plans[epoch + 1] == expect(reference_order(epoch + 1))
        assert inner.epoch == epoch
        order = [first, *it]
        assert order == reference_order(epoch)
        assert plans[epoch] == expect(order)


def test_plan_ahead_random_keeps_a_dedicated_generators_orders(mnt, plans):
    torch = pytest.importorskip("torch")
    from torch.utils.data import RandomSampler
    sampler = epochfs.PlanSampler(
        RandomSampler(range(25), generator=torch.Generator().manual_seed(9)), rel_path, mnt,
        plan_ahead=1)
    orders = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # set_epoch on a sampler without epochs: no mismatch
        for epoch in range(3):
            sampler.set_epoch(epoch)
            orders.append(list(sampler))
    ref = RandomSampler(range(25), generator=torch.Generator().manual_seed(9))
    assert orders == [list(ref) for _ in range(3)]
    next_order = list(ref)
    assert plans == [expect(o) for o in orders] + [expect(next_order)]
    assert list(sampler) == next_order  # the pre-drawn order is what the next epoch yields


def test_plan_ahead_for_the_wrong_epoch_is_dropped_with_a_warning(mnt, plans):
    pytest.importorskip("torch")
    sampler = epochfs.PlanSampler(distributed(), rel_path, mnt, plan_ahead=1)
    sampler.set_epoch(0)
    list(sampler)
    sampler.set_epoch(5)  # e.g. resumed from a checkpoint: epoch 1 will not be read
    with pytest.warns(epochfs.PlanWarning, match="drawn ahead for epoch 1 is unused"):
        order = list(sampler)
    assert order == reference_order(5)
    assert plans == [expect(reference_order(e)) for e in (0, 1, 5, 6)]


def test_resume_publishes_and_yields_the_rest_of_the_interrupted_epoch(mnt, plans):
    torch = pytest.importorskip("torch")
    from torch.utils.data import RandomSampler

    def sampler():  # a job's sampler, reproducible from its seed
        return epochfs.PlanSampler(
            RandomSampler(range(40), generator=torch.Generator().manual_seed(7)), rel_path, mnt)
    full = sampler()
    reference = [list(full) for _ in range(3)]
    plans.clear()
    # The job restarted after 15 samples of its second epoch (checkpoint: epoch 1, step 15):
    # it replays epoch 0's draw, then resumes.
    job = sampler()
    list(job)
    job.resume(15)
    assert len(job) == 25
    rest = list(job)
    assert rest == reference[1][15:]
    assert plans[-1] == expect(reference[1][15:]), "only the rest is published"
    assert plans.resumed[-1] and not any(plans.resumed[:-1])
    assert len(job) == 40 and list(job) == reference[2], "one epoch only"
    job.resume(40)
    assert list(job) == [] and plans[-1] == []  # resumed at the end: nothing left, empty plan
    assert plans.resumed[-1]


def test_resume_with_a_distributed_sampler_and_bad_values(mnt, plans):
    pytest.importorskip("torch")
    sampler = epochfs.PlanSampler(distributed(), rel_path, mnt)
    sampler.set_epoch(3)
    sampler.resume(5)
    assert list(sampler) == reference_order(3)[5:]
    assert plans[-1] == expect(reference_order(3)[5:])
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="consumed"):
            sampler.resume(bad)
    sampler.resume(16)  # the epoch has 15
    with pytest.raises(ValueError, match="only 15 indices"):
        list(sampler)


def test_resume_of_an_epoch_planned_ahead_publishes_the_rest_again(mnt, plans):
    pytest.importorskip("torch")
    sampler = epochfs.PlanSampler(distributed(), rel_path, mnt, plan_ahead=1)
    sampler.set_epoch(0)
    list(sampler)  # publishes epoch 0 and, ahead, epoch 1
    sampler.set_epoch(1)
    sampler.resume(4)
    with pytest.warns(epochfs.PlanWarning, match="resuming after 4"):
        rest = list(sampler)
    assert rest == reference_order(1)[4:]
    assert plans[2] == expect(reference_order(1)[4:]) and plans[3] == expect(reference_order(2))


def test_on_error(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from torch.utils.data import SequentialSampler
    not_mount = tmp_path / "plain"
    not_mount.mkdir()
    with pytest.raises(NotAnEpochfsMount):
        list(epochfs.PlanSampler(SequentialSampler(range(3)), rel_path, not_mount))
    warn = epochfs.PlanSampler(SequentialSampler(range(3)), rel_path, not_mount,
                               plan_ahead=1, on_error="warn")
    with pytest.warns(epochfs.PlanWarning, match="not an epochfs mount"):
        assert list(warn) == [0, 1, 2]
    mount = make_fake_mount(tmp_path / "mnt")
    bad = epochfs.PlanSampler(SequentialSampler(range(3)), lambda i: "a//b", mount,
                              on_error="warn")
    with pytest.warns(epochfs.PlanWarning, match="empty component"):
        assert list(bad) == [0, 1, 2]

    def broken_path_of(i):
        raise KeyError(f"no file for index {i}")

    failing = epochfs.PlanSampler(SequentialSampler(range(3)), broken_path_of, mount,
                                  on_error="warn")
    with pytest.raises(KeyError, match="no file for index 0"):
        list(failing)
    with pytest.raises(ValueError, match="plan_ahead"):
        epochfs.PlanSampler([], rel_path, mount, plan_ahead=2)
    with pytest.raises(ValueError, match="on_error"):
        epochfs.PlanSampler([], rel_path, mount, on_error="ignore")


def test_plansampler_pickles(mnt, plans):
    pytest.importorskip("torch")
    sampler = epochfs.PlanSampler(distributed(), rel_path, mnt, plan_ahead=1)
    sampler.set_epoch(0)
    list(sampler)  # leaves the pre-drawn order of epoch 1 inside
    clone = pickle.loads(pickle.dumps(sampler))
    clone.set_epoch(1)
    assert list(clone) == reference_order(1)
    assert len(plans) == 3  # the clone used the pre-drawn order, published epoch 2 ahead


class FileDataset:
    """Item i: the bytes of data/i.bin under a root, read in a DataLoader worker."""

    def __init__(self, root: Path, n: int):
        self.root, self.n = str(root), n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch
        with open(os.path.join(self.root, rel_path(i)), "rb") as f:
            data = f.read()
        assert data == bytes([i % 251]) * (i % 7 + 1)
        return torch.tensor([i, os.getpid()])


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_with_workers(mnt, plans, context):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, RandomSampler
    n = 60
    for i in range(n):
        p = mnt / rel_path(i)
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(bytes([i % 251]) * (i % 7 + 1))
    ds = FileDataset(mnt, n)
    sampler = epochfs.PlanSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(2)),
                                  functools.partial(abs_path_under, mnt), mnt, plan_ahead=1)
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2,
                        multiprocessing_context=context)
    warnings.simplefilter("error", epochfs.PlanWarning)
    assert len(loader) == 15
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(loader)
        order = torch.cat([b[:, 0] for b in batches]).tolist()
        workers = {pid for b in batches for pid in b[:, 1].tolist()}
        assert sorted(order) == list(range(n))
        assert len(workers) == 2 and os.getpid() not in workers
        assert plans[epoch] == expect(order)
        assert len(plans) == epoch + 2  # and the next epoch's, published ahead


# ---------------------------------------------------------------------------------------------
# Packaging: pip install ./python without an index, into a fresh venv


def offline_pip_env() -> dict:
    """The environment with every way to reach a package index or a wheel cache removed:
    pip can only use what is on this machine, as on a node without access to PyPI."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1")
    return env


def source_files() -> list[str]:
    return sorted(str(p.relative_to(PYDIR)) for p in PYDIR.rglob("*")
                  if "__pycache__" not in p.parts)


@pytest.fixture
def venv(tmp_path) -> Path:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} (Debian's, with python3-venv) is missing")
    where = tmp_path / "venv"
    # --system-site-packages: the venv sees Debian's torch, as a training job's venv would.
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(where)],
                   check=True, timeout=PIP_TIMEOUT, env=offline_pip_env())
    return where


def pip_install(venv: Path, *args) -> None:
    res = subprocess.run([str(venv / "bin" / "pip"), "install", *map(str, args)],
                         capture_output=True, text=True, timeout=PIP_TIMEOUT,
                         env=offline_pip_env(), cwd=REPO)
    assert res.returncode == 0, f"pip install {args} failed\n{res.stdout}\n{res.stderr}"


USE_INSTALLED = """
import json, sys, epochfs
assert 'torch' not in sys.modules
n = epochfs.publish_plan(sys.argv[1] if len(sys.argv) > 1 else MOUNT, ["a/b.jpg", "c"])
from epochfs import PlanSampler
import torch.utils.data
print(json.dumps({"file": epochfs.__file__, "n": n, "version": epochfs.__version__,
                  "torch_sampler": issubclass(PlanSampler, torch.utils.data.Sampler)}))
"""


def use_installed(venv: Path, mount: Path, cwd: Path) -> dict:
    code = f"MOUNT = {str(mount)!r}\n" + USE_INSTALLED
    res = _run_python(code, cwd=cwd, python=str(venv / "bin" / "python"), extra_path=())
    return json.loads(res.stdout)


def test_pip_install_offline_into_a_venv(venv, real_mnt, tmp_path):
    before = source_files()
    pip_install(venv, "./python")  # the documented command, run from the repository root
    assert source_files() == before  # the build wrote nothing into the source tree
    out = use_installed(venv, real_mnt.mountpoint, cwd=tmp_path)
    assert out["file"].startswith(str(venv)) and out["n"] == 2 and out["torch_sampler"]
    assert out["version"] == epochfs.__version__
    plans = real_mnt.stats()["plans"]
    assert plans["published"] == 1 and plans["planned_files"] == 2, plans
    site = Path(out["file"]).parents[1]
    record = (site / f"epochfs-{epochfs.__version__}.dist-info" / "RECORD").read_text()
    for name in ("epochfs/__init__.py", "epochfs/_control.py", "epochfs/plan.py",
                 "epochfs/sampler.py",
                 "epochfs/py.typed"):
        assert f"\n{name},sha256=" in "\n" + record
    assert "_backend" not in record  # the build backend is not installed


def test_pip_install_sdist_and_editable(venv, real_mnt, tmp_path):
    mnt = real_mnt.mountpoint
    # The sdist, built by the backend's own hook, installs offline too.
    dist = tmp_path / "dist"
    dist.mkdir()
    res = _run_python("import sys, epochfs_build_backend as b\n"
                      f"print(b.build_sdist({str(dist)!r}))", cwd=PYDIR,
                      extra_path=(PYDIR / "_backend",))
    sdist = dist / res.stdout.strip()
    pip_install(venv, sdist)
    out = use_installed(venv, mnt, cwd=tmp_path)
    assert out["file"].startswith(str(venv))
    # Editable: the venv imports the source tree itself.
    pip_install(venv, "-e", "./python")
    out = use_installed(venv, mnt, cwd=tmp_path)
    assert out["file"] == str(PYDIR / "epochfs" / "__init__.py")


def test_wheel_is_reproducible_and_its_record_matches(tmp_path):
    names = []
    for d in ("w1", "w2"):
        (tmp_path / d).mkdir()
        res = _run_python("import epochfs_build_backend as b\n"
                          f"print(b.build_wheel({str(tmp_path / d)!r}))", cwd=tmp_path,
                          extra_path=(PYDIR / "_backend",))
        names.append(res.stdout.strip())
    assert names[0] == f"epochfs-{epochfs.__version__}-py3-none-any.whl" == names[1]
    w1, w2 = (tmp_path / d / names[0] for d in ("w1", "w2"))
    assert w1.read_bytes() == w2.read_bytes()
    import base64
    import hashlib
    with zipfile.ZipFile(w1) as zf:
        record = zf.read(f"epochfs-{epochfs.__version__}.dist-info/RECORD").decode()
        rows = [line.split(",") for line in record.splitlines()]
        assert sorted(r[0] for r in rows) == sorted(zf.namelist())
        for name, digest, size in rows:
            if name.endswith("RECORD"):
                continue
            data = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)
        for info in zf.infolist():
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644
