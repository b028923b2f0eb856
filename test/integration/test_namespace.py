"""The namespace through a real mount: names exactly as in the origin, nested directories,
readdir equal to the origin's, a 100k-entry directory, stat, the hidden control dir, and EROFS
on every kind of write."""

from __future__ import annotations

import errno
import json
import os
import random
import stat
from pathlib import Path

from epochfs_testlib import (KiB, MiB, delta, expect_errno, read_all_verify, read_file, run_cli,
                             wait_until)

NAMES = {
    "with space.jpg": 1000,
    "  leading and trailing  ": 10,
    "ünïcödé-データ-😀.png": 2000,
    "plus+percent%20equals=.bin": 3000,
    "semi;colon,comma'quote\"brace{}.txt": 5,
    "#hash&amp@at!bang~tilde": 7,
    "-dash-first": 8,
    "back\\slash": 9,
    "tab\tinside": 11,
    ".hidden": 12,
    "UPPER.lower": 13,
    "upper.LOWER": 14,
    "x" * 255: 15,                                  # the longest name Linux allows
    "dir with space/sub dir/file name.jpg": 100 * KiB,
    "データ/ñandú/π=3.14+e%.bin": 50 * KiB,
    "d1/d2/d3/d4/d5/d6/d7/d8/deep.bin": 4 * MiB + 3,
    "d1/sibling.bin": 0,
    "class_000/img_0001.jpg": 90 * KiB,
}


def _tree(root) -> dict[str, tuple[list[str], list[str]]]:
    """{relative dir: (sorted subdirs, sorted files)} by os.walk."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        out[rel] = (sorted(dirs), sorted(files))
    return out


def test_names_and_tree_match_origin(dataset, mounter):
    ds = dataset(NAMES, seed=21)
    (ds.root / "empty dir").mkdir()
    (ds.root / "d1" / "empty").mkdir()
    m = mounter(ds.root)

    origin_tree, mount_tree = _tree(ds.root), _tree(m.mountpoint)
    assert mount_tree.keys() == origin_tree.keys()
    for rel in origin_tree:
        assert mount_tree[rel] == origin_tree[rel], f"listing of {rel!r} differs"
    for rel, data in ds.files.items():
        st = os.stat(m.mountpoint / rel)
        assert stat.S_ISREG(st.st_mode), rel
        assert st.st_size == len(data), rel
    for rel in origin_tree:
        assert stat.S_ISDIR(os.stat(m.mountpoint / rel).st_mode), rel
    # d_type from readdir agrees with the origin too.
    with os.scandir(m.mountpoint) as it:
        kinds = {e.name: e.is_dir(follow_symlinks=False) for e in it}
    with os.scandir(ds.root) as it:
        assert kinds == {e.name: e.is_dir(follow_symlinks=False) for e in it}
    read_all_verify(m.mountpoint, ds)
    # Lookups of names that do not exist fail cleanly, twice (the second from a negative entry).
    for _ in range(2):
        expect_errno(errno.ENOENT, os.stat, m.mountpoint / "no such file")
        expect_errno(errno.ENOTDIR, os.stat, m.mountpoint / "with space.jpg" / "below a file")
        expect_errno(errno.ENOENT, os.stat, m.mountpoint / "with  space.jpg")


def test_stat_times_match_origin(dataset, mounter):
    ds = dataset({"a.bin": 10, "dir/b.bin": 20}, seed=22)
    os.utime(ds.root / "a.bin", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    m = mounter(ds.root)
    for rel in ds.files:
        assert os.stat(m.mountpoint / rel).st_mtime_ns // 10**9 == \
            os.stat(ds.root / rel).st_mtime_ns // 10**9, rel


def test_control_dir_hidden_but_reachable(dataset, mounter):
    ds = dataset({"a.bin": 10}, seed=23)
    m = mounter(ds.root)
    assert sorted(os.listdir(m.mountpoint)) == ["a.bin"]
    assert os.path.isdir(m.mountpoint / ".epochfs")
    st = json.loads(read_file(m.mountpoint / ".epochfs" / "stats"))
    assert os.path.realpath(st["mountpoint"]) == os.path.realpath(m.mountpoint)
    assert os.path.realpath(st["source"]) == os.path.realpath(ds.root)
    assert os.path.realpath(st["cache_dir"]) == os.path.realpath(m.cache_dir)
    assert st["policy"]["name"] == "epoch"  # the default
    assert st["policy"]["epoch"] == 1 and st["epochs"] == []  # nothing read yet
    assert st["prefetch"]["threads"] == 8 and st["plans"]["published"] == 0
    for key in ("hits", "misses", "hit_bytes", "miss_bytes", "used_bytes", "limit_bytes",
                "blocks", "checksum_failures"):
        assert isinstance(st["cache"][key], int), key
    for key in ("requests", "bytes", "errors"):
        assert isinstance(st["origin"][key], int), key
    assert st["cache"]["limit_bytes"] == 256 * MiB
    assert sorted(os.listdir(m.mountpoint / ".epochfs")) == ["plan", "refresh", "stats"]


def test_directory_with_100k_entries(dataset, mounter):
    ds = dataset({"big/tiny-a.bin": 3, "big/tiny-b.bin": 4000}, seed=24)
    big = ds.root / "big"
    names = [f"{i:06d}-{'ab cd' if i % 7 == 0 else 'x'}-é.jpg" for i in range(100_000)]
    for name in names:
        os.close(os.open(big / name, os.O_CREAT | os.O_WRONLY, 0o644))
    expected = sorted(names + ["tiny-a.bin", "tiny-b.bin"])
    m = mounter(ds.root)

    for _ in range(2):  # the second listing may come from the kernel's or the daemon's cache
        got = os.listdir(m.mountpoint / "big")
        assert len(got) == len(expected)
        assert sorted(got) == expected
    with os.scandir(m.mountpoint / "big") as it:
        assert sum(1 for e in it if e.is_file(follow_symlinks=False)) == len(expected)
    rng = random.Random(5)
    for name in rng.sample(names, 200):
        assert os.stat(m.mountpoint / "big" / name).st_size == 0, name
        assert read_file(m.mountpoint / "big" / name) == b""
    read_all_verify(m.mountpoint, ds)


def test_statfs(dataset, mounter):
    ds = dataset({"a.bin": 10}, seed=25)
    m = mounter(ds.root)
    sv = os.statvfs(m.mountpoint)
    assert sv.f_bsize > 0
    assert sv.f_namemax >= 255


def mount_options(mountpoint) -> list[str]:
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == str(mountpoint):
            return fields[3].split(",")
    raise AssertionError(f"{mountpoint} not in /proc/mounts")


def test_the_kernel_sees_a_read_only_mount(dataset, mounter):
    ds = dataset({"dir/a.bin": 100}, seed=27)
    m = mounter(ds.root)
    mnt = m.mountpoint
    opts = mount_options(mnt)
    assert "ro" in opts and "rw" not in opts, opts
    assert os.statvfs(mnt).f_flag & os.ST_RDONLY
    assert os.geteuid() == 0  # root: access() ignores permission bits, not a ro mount
    for path in (mnt, mnt / "dir", mnt / "dir" / "a.bin", mnt / ".epochfs",
                 mnt / ".epochfs" / "plan", mnt / ".epochfs" / "refresh",
                 mnt / ".epochfs" / "stats"):
        assert not os.access(path, os.W_OK), path
        assert os.access(path, os.R_OK), path
    expect_errno(errno.EROFS, os.open, mnt / "dir" / "a.bin", os.O_WRONLY)
    expect_errno(errno.EROFS, os.open, mnt / "dir" / "new", os.O_WRONLY | os.O_CREAT)


def test_writes_fail_with_erofs(dataset, mounter):
    ds = dataset({"dir/a.bin": 1000, "dir/b.bin": 2000, "top.bin": 3000}, seed=26)
    (ds.root / "emptydir").mkdir()
    m = mounter(ds.root)
    mnt = m.mountpoint
    a, d = mnt / "dir" / "a.bin", mnt / "dir"

    def open_close(path, flags):
        os.close(os.open(path, flags, 0o644))

    def write_existing():
        with open(a, "r+b") as f:
            f.write(b"x")

    ops = {
        "open O_WRONLY": lambda: open_close(a, os.O_WRONLY),
        "open O_RDWR": lambda: open_close(a, os.O_RDWR),
        "open O_WRONLY|O_TRUNC": lambda: open_close(a, os.O_WRONLY | os.O_TRUNC),
        "open O_APPEND": lambda: open_close(a, os.O_WRONLY | os.O_APPEND),
        "write into existing (r+b)": write_existing,
        "create new file": lambda: open_close(d / "new.bin", os.O_CREAT | os.O_WRONLY),
        "create exclusive": lambda: open_close(mnt / "new2", os.O_CREAT | os.O_EXCL | os.O_RDWR),
        "mkdir": lambda: os.mkdir(mnt / "newdir"),
        "rmdir": lambda: os.rmdir(mnt / "emptydir"),
        "unlink": lambda: os.unlink(a),
        "rename": lambda: os.rename(a, d / "renamed.bin"),
        "rename over existing": lambda: os.rename(a, d / "b.bin"),
        "rename dir": lambda: os.rename(d, mnt / "dir2"),
        "truncate": lambda: os.truncate(a, 0),
        "chmod": lambda: os.chmod(a, 0o777),
        "chown": lambda: os.chown(a, 1234, 1234),
        "utime": lambda: os.utime(a, (0, 0)),
        "symlink": lambda: os.symlink("dir/a.bin", mnt / "link"),
        "hard link": lambda: os.link(a, mnt / "hardlink"),
        "mknod fifo": lambda: os.mkfifo(mnt / "fifo"),
    }
    failures = []
    for name, op in ops.items():
        try:
            op()
            failures.append(f"{name}: succeeded")
        except OSError as e:
            if e.errno != errno.EROFS:
                failures.append(f"{name}: {errno.errorcode.get(e.errno, e.errno)} ({e})")
    # xattrs are not data, but setting one is still a write: it must not succeed.
    try:
        os.setxattr(a, "user.epochfs-test", b"1")
        failures.append("setxattr: succeeded")
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.ENOTSUP):
            failures.append(f"setxattr: {errno.errorcode.get(e.errno, e.errno)}")
    # The control files are read-only too (plans and refreshes are ioctls).
    for name in ("stats", "plan", "refresh"):
        try:
            with open(mnt / ".epochfs" / name, "wb") as f:
                f.write(b"{}")
            failures.append(f"write .epochfs/{name}: succeeded")
        except OSError as e:
            if e.errno != errno.EROFS:
                failures.append(f"write .epochfs/{name}: "
                                f"{errno.errorcode.get(e.errno, e.errno)}")
    assert not failures, "\n".join(failures)

    # Nothing changed, in the mount or in the origin.
    assert sorted(os.listdir(mnt)) == ["dir", "emptydir", "top.bin"]
    assert sorted(os.listdir(d)) == ["a.bin", "b.bin"]
    assert sorted(os.listdir(ds.root)) == ["dir", "emptydir", "top.bin"]
    read_all_verify(mnt, ds)
    for rel, data in ds.files.items():
        assert (ds.root / rel).read_bytes() == data


def test_refresh_makes_the_kernel_forget_changed_names(dataset, mounter):
    """With an immutable snapshot, changes at the origin appear at `epochfs refresh`, at once:
    even names the kernel cached (positive and negative entries, attributes) are invalidated,
    though fuse.attr_timeout (60 s) has not passed."""
    ds = dataset({"d/a.bin": 1000, "d/b.bin": 2000, "c.bin": 10}, seed=41)
    m = mounter(ds.root, args=["--metadata-ttl", "immutable"])
    d = m.mountpoint / "d"
    assert os.stat(d / "a.bin").st_size == 1000
    assert os.stat(d / "b.bin").st_size == 2000
    assert not os.path.exists(d / "new.bin")  # the kernel now holds a negative entry
    assert not os.path.exists(m.mountpoint / "top-new.bin")
    assert sorted(os.listdir(d)) == ["a.bin", "b.bin"]

    (ds.root / "d" / "new.bin").write_bytes(b"n" * 30)
    (ds.root / "top-new.bin").write_bytes(b"t" * 3)
    (ds.root / "d" / "b.bin").unlink()
    (ds.root / "d" / "a.bin").write_bytes(b"x" * 1500)
    # The snapshot is immutable: nothing changes before the refresh.
    assert os.stat(d / "a.bin").st_size == 1000
    assert sorted(os.listdir(d)) == ["a.bin", "b.bin"]

    refreshes = m.stats()["namespace"]["refreshes"]
    run_cli("refresh", m.mountpoint, check=True)
    assert os.stat(d / "a.bin").st_size == 1500
    assert read_file(d / "a.bin") == b"x" * 1500
    assert not os.path.exists(d / "b.bin")
    assert os.stat(d / "new.bin").st_size == 30
    assert os.stat(m.mountpoint / "top-new.bin").st_size == 3
    assert sorted(os.listdir(d)) == ["a.bin", "new.bin"]
    assert m.stats()["namespace"]["refreshes"] == refreshes + 1


def drop_dentries() -> None:
    """The kernel drops unused dentries and inodes (echo 2 > drop_caches)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def test_an_immutable_namespace_lets_the_kernel_keep_listings_until_a_refresh(dataset,
                                                                               mounter):
    """Listings of an immutable snapshot are cached by the kernel (FOPEN_CACHE_DIR): a second
    listing of a directory sends no READDIR; a refresh that adds or removes names in it (also
    names never looked up) makes the kernel list it again."""
    sizes = {f"d/{i:03d}.bin": 100 + i for i in range(300)}
    ds = dataset({**sizes, "e/x.bin": 5}, seed=43)
    m = mounter(ds.root, args=["--metadata-ttl", "immutable"])
    d = m.mountpoint / "d"
    names = sorted(os.listdir(d))
    assert names == sorted(p.split("/")[1] for p in sizes)
    s0 = m.stats()
    for _ in range(3):
        assert sorted(os.listdir(d)) == names
    s1 = m.stats()
    listings = (delta(s0, s1, "fuse.requests.readdir") +
                delta(s0, s1, "fuse.requests.readdirplus"))
    assert listings == 0, s1["fuse"]["requests"]
    assert delta(s0, s1, "fuse.requests.opendir") >= 3  # the opens still come to us

    # A name goes away that the kernel no longer holds an entry for (its dentries dropped,
    # the directory kept open so that its cached listing stays): only the listing shows it.
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        drop_dentries()
        # The forgets arrived: the root, d and e are all the kernel holds.
        assert wait_until(lambda: m.stats()["fs"]["inodes"] <= 3, timeout=10), m.stats()["fs"]
        (ds.root / "d" / "150.bin").unlink()
        assert sorted(os.listdir(d)) == names  # immutable until the refresh
        run_cli("refresh", m.mountpoint, check=True)
        now = sorted(os.listdir(d))
        assert "150.bin" not in now and len(now) == len(names) - 1, now
    finally:
        os.close(fd)
    (ds.root / "d" / "zz-new.bin").write_bytes(b"n")
    run_cli("refresh", m.mountpoint, check=True)
    assert sorted(os.listdir(d)) == sorted(now + ["zz-new.bin"])
    # A directory whose names did not change keeps its cached listing.
    assert sorted(os.listdir(m.mountpoint / "e")) == ["x.bin"]


def test_other_namespaces_list_at_every_open(dataset, mounter):
    """With metadata.ttl 0 (a directory origin's default) every listing asks the daemon, so
    a name added at the origin shows at once."""
    ds = dataset({"d/a.bin": 1}, seed=44)
    m = mounter(ds.root)
    d = m.mountpoint / "d"
    assert os.listdir(d) == ["a.bin"]
    (ds.root / "d" / "b.bin").write_bytes(b"b")
    assert sorted(os.listdir(d)) == ["a.bin", "b.bin"]
