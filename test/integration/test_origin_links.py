"""Issue 10 (F7) on a real mount with --allow-other: symbolic links of a directory origin are
followed only while they stay inside it, and the origin's permission bits and owners are what
the kernel enforces for other users (default_permissions), not a world-readable 0444.

The other user is nobody (65534), in a child process that gets the mount's root as an open
descriptor: the test's tmp_path is private to root, and only the mount's own permissions are
under test here."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys

import pytest

from epochfs_testlib import expect_errno, read_file

NOBODY = 65534

# Runs as nobody with the mount root on descriptor argv[1]; reads the paths argv[2:] beneath
# it and prints {what: "ok:<content>" | errno name}.
_CHILD = r"""
import errno, json, os, sys
root = int(sys.argv[1])
out = {}
def attempt(name, fn):
    try:
        out[name] = "ok:" + fn()
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
def read(rel):
    fd = os.open(rel, os.O_RDONLY, dir_fd=root)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)
for rel in sys.argv[2:]:
    attempt("read " + rel, lambda rel=rel: read(rel))
attempt("list .", lambda: ",".join(sorted(os.listdir(root))))
def list_private():
    fd = os.open("private", os.O_RDONLY | os.O_DIRECTORY, dir_fd=root)
    try:
        return ",".join(os.listdir(fd))
    finally:
        os.close(fd)
attempt("list private", list_private)
out["uid"] = str(os.geteuid())
print(json.dumps(out))
"""


def _as_nobody(mnt, rels) -> dict[str, str]:
    def drop():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        r = subprocess.run([sys.executable, "-c", _CHILD, str(fd), *rels], preexec_fn=drop,
                           pass_fds=(fd,), capture_output=True, text=True, timeout=60,
                           cwd="/")
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _origin(tmp_path, dataset):
    ds = dataset({"public.txt": 0, "secret.bin": 0, "train/v3/x.bin": 0,
                  "private/inner.txt": 0})
    root = ds.root
    (root / "public.txt").write_text("for everyone")
    (root / "secret.bin").write_text("root only")
    (root / "train/v3/x.bin").write_text("version three")
    (root / "private/inner.txt").write_text("behind a 0700 dir")
    (tmp_path / "outside.txt").write_text("a file next to the origin")
    os.chmod(root, 0o755)
    os.chmod(root / "public.txt", 0o644)
    os.chmod(root / "secret.bin", 0o600)
    os.chmod(root / "private", 0o700)
    os.chown(root / "train/v3/x.bin", 1234, 5678)
    os.chmod(root / "train/v3/x.bin", 0o640)
    (root / "train/latest").symlink_to("v3")                   # inside: followed
    (root / "sibling.txt").symlink_to("train/v3/../../public.txt")  # climbs, stays inside
    (root / "shadow").symlink_to("/etc/shadow")                # out: absolute
    (root / "slash").symlink_to("/")                           # out: the root filesystem
    (root / "outside.txt").symlink_to("../outside.txt")        # out: relative
    return root


OUTWARD = ["shadow", "slash", "outside.txt"]


def test_links_out_of_the_origin_are_absent_and_links_inside_work(tmp_path, dataset, mounter):
    root = _origin(tmp_path, dataset)
    m = mounter(root, args=["--allow-other"])
    mnt = m.mountpoint

    names = sorted(os.listdir(mnt))
    assert names == ["private", "public.txt", "secret.bin", "sibling.txt", "train"]
    assert sorted(os.listdir(mnt / "train")) == ["latest", "v3"]
    for name in OUTWARD:
        expect_errno(errno.ENOENT, os.stat, mnt / name)
        expect_errno(errno.ENOENT, open, mnt / name, "rb")
    for rel in ("slash/etc/passwd", "slash/etc/shadow"):
        expect_errno(errno.ENOENT, os.stat, mnt / rel)

    # Links inside are served as what they point to (a directory, a file).
    assert read_file(mnt / "train/latest/x.bin") == b"version three"
    assert stat.S_ISDIR(os.stat(mnt / "train/latest").st_mode)
    assert read_file(mnt / "sibling.txt") == b"for everyone"


# metadata.ttl 0 asks the origin at every lookup; immutable serves the persisted snapshot.
@pytest.mark.parametrize("ttl", ["0", "immutable"])
def test_origin_permissions_are_enforced_for_other_users(tmp_path, dataset, mounter, ttl):
    root = _origin(tmp_path, dataset)
    m = mounter(root, args=["--allow-other", "--metadata-ttl", ttl])
    mnt = m.mountpoint

    # What the kernel is told: the origin's bits without write bits, and its owners.
    for rel, mode, uid, gid in [("", 0o555, 0, 0), ("public.txt", 0o444, 0, 0),
                                ("secret.bin", 0o400, 0, 0), ("private", 0o500, 0, 0),
                                ("train/v3/x.bin", 0o440, 1234, 5678),
                                ("train/latest/x.bin", 0o440, 1234, 5678)]:
        st = os.stat(mnt / rel)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), rel

    # Root reads the 0600 file (as it could at the origin).
    assert read_file(mnt / "secret.bin") == b"root only"

    got = _as_nobody(mnt, ["public.txt", "secret.bin", "train/v3/x.bin", "private/inner.txt",
                           "train/latest/x.bin", "sibling.txt", *OUTWARD,
                           "slash/etc/passwd"])
    assert got["uid"] == str(NOBODY)
    assert got["read public.txt"] == "ok:for everyone"
    assert got["read sibling.txt"] == "ok:for everyone"
    assert got["read secret.bin"] == "EACCES"
    assert got["read train/v3/x.bin"] == "EACCES"       # 0640, owner 1234, group 5678
    assert got["read train/latest/x.bin"] == "EACCES"
    assert got["read private/inner.txt"] == "EACCES"    # the 0700 directory stops the walk
    assert got["list private"] == "EACCES"
    for name in [*OUTWARD, "slash/etc/passwd"]:
        assert got["read " + name] == "ENOENT", name
    assert got["list ."] == "ok:" + ",".join(["private", "public.txt", "secret.bin",
                                              "sibling.txt", "train"])
