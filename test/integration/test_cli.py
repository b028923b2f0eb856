"""The epochfs command line: --version, --help, stats (human and JSON), umount, --foreground,
config files and flags, and every way a mount can be refused (always non-zero, with a message
naming the key, never a hang)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from epochfs_testlib import (CMD_TIMEOUT, KiB, MiB, epochfs_bin, image_like_sizes, is_mounted,
                             pid_alive, read_all_verify, read_stats, run_cli, wait_until)

REPO = Path(__file__).resolve().parents[2]


def project_version() -> str:
    text = (REPO / "CMakeLists.txt").read_text()
    return re.search(r"project\(epochfs\s+VERSION\s+([0-9.]+)", text).group(1)


def test_version():
    res = run_cli("--version", check=True)
    assert project_version() in res.stdout + res.stderr


@pytest.mark.parametrize("cmd,must_mention", [
    ([], ["mount", "umount", "stats", "refresh", "plan"]),
    (["plan"], ["MOUNTPOINT", "FILE"]),
    (["mount"], ["--config", "--cache-dir", "--cache-size", "--policy", "--foreground",
                 "--log-level", "SOURCE", "MOUNTPOINT"]),
    (["umount"], ["MOUNTPOINT"]),
    (["stats"], ["--json", "MOUNTPOINT"]),
])
def test_help(cmd, must_mention):
    res = run_cli(*cmd, "--help", check=True)
    out = res.stdout + res.stderr
    for word in must_mention:
        assert word in out, f"`epochfs {' '.join(cmd)} --help` does not mention {word}:\n{out}"


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["mount"], ["mount", "/only-one"],
                                  ["stats"], ["umount"], ["plan"], ["plan", "/mnt"]])
def test_usage_errors_exit_nonzero(args):
    res = run_cli(*args)
    assert res.returncode != 0
    assert res.stderr.strip(), "a usage error should say what is wrong"


def test_stats_human_and_json(dataset, mounter):
    ds = dataset(image_like_sizes(5, classes=1, seed=41), seed=41)
    m = mounter(ds.root)
    read_all_verify(m.mountpoint, ds)
    res = run_cli("stats", m.mountpoint, "--json", check=True)
    js = json.loads(res.stdout)
    from_file = m.stats()
    for key in ("hits", "misses", "blocks", "used_bytes", "limit_bytes", "checksum_failures"):
        assert js["cache"][key] == from_file["cache"][key], key
    for key in ("requests", "bytes", "errors"):
        assert js["origin"][key] == from_file["origin"][key], key
    assert js["cache"]["blocks"] == 5 and js["origin"]["bytes"] == ds.total_bytes

    human = run_cli("stats", m.mountpoint, check=True).stdout
    assert "hit" in human.lower() and "origin" in human.lower(), human
    with pytest.raises(json.JSONDecodeError):
        json.loads(human)  # the default is for people


def test_stats_and_umount_on_a_plain_directory_fail(tmp_path):
    for cmd in (["stats", tmp_path], ["umount", tmp_path]):
        res = run_cli(*cmd)
        assert res.returncode != 0, cmd
        assert res.stderr.strip(), cmd


def test_plan_and_refresh_on_a_plain_directory_fail_clearly(tmp_path):
    (tmp_path / ".epochfs").mkdir()
    (tmp_path / ".epochfs" / "plan").write_text("")  # looks like a mount, is not one
    (tmp_path / "order.txt").write_text("a\n")
    for cmd in (["plan", tmp_path, tmp_path / "order.txt"], ["refresh", tmp_path]):
        res = run_cli(*cmd)
        assert res.returncode == 1, cmd
        assert f"{tmp_path} is not an epochfs mount" in res.stderr, (cmd, res.stderr)


def test_plan_with_a_missing_file_fails_naming_it(dataset, mounter, tmp_path):
    m = mounter(dataset({"a": 1}).root)
    res = run_cli("plan", m.mountpoint, tmp_path / "missing.txt")
    assert res.returncode == 1
    assert "missing.txt" in res.stderr and "No such file" in res.stderr, res.stderr
    assert m.stats()["plans"]["published"] == 0


def test_umount_waits_for_the_daemon(dataset, mounter):
    ds = dataset({"a.bin": 10}, seed=42)
    m = mounter(ds.root)
    read_all_verify(m.mountpoint, ds)
    pid = m.pid
    m.umount()  # asserts: exit 0, no longer mounted, daemon gone
    assert not pid_alive(pid)
    # The cache dir is free again at once.
    m2 = mounter(ds.root, cache_dir=m.cache_dir)
    assert m2.stats()["cache"]["blocks"] == 1


def test_foreground_mount(dataset, mounter):
    ds = dataset({"a.bin": 1000, "d/b.bin": 200 * KiB}, seed=43)
    m = mounter(ds.root, start=False)
    m.mountpoint.mkdir()
    out = open(m.mountpoint.parent / "foreground.out", "w+")
    proc = subprocess.Popen([epochfs_bin(), *map(str, m.command()), "--foreground"],
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: os.path.ismount(m.mountpoint) or proc.poll() is not None,
                          CMD_TIMEOUT), "foreground mount not ready in time"
        out.seek(0)
        assert proc.poll() is None, f"foreground mount exited {proc.returncode}: {out.read()}"
        st = read_stats(m.mountpoint)
        m.pid = int(st["pid"])
        assert m.pid == proc.pid, "a foreground mount serves from the process that was started"
        read_all_verify(m.mountpoint, ds)
        # umount waits for the daemon to exit; as our child it stays a zombie until we reap
        # it, so reap it (as a shell would) while umount runs.
        umount = subprocess.Popen([epochfs_bin(), "umount", str(m.mountpoint)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        assert proc.wait(timeout=CMD_TIMEOUT) == 0, "foreground mount exited non-zero"
        _, err = umount.communicate(timeout=CMD_TIMEOUT)
        assert umount.returncode == 0, err
        assert not m.mounted
    finally:
        if proc.poll() is None:
            m.cleanup()
            proc.kill()
            proc.wait()
        out.close()


def test_config_file_values_used_and_flags_override(dataset, mounter, tmp_path):
    ds = dataset({"big.bin": 3 * MiB + 1, "a.jpg": 100 * KiB}, seed=44)
    cache = tmp_path / "cache-from-config"
    cfg = tmp_path / "mount.yaml"
    cfg.write_text(
        "# epochfs config used by test_cli.py\n"
        "cache:\n"
        f"  dir: {cache}\n"
        "  size: 1GiB\n"
        "  min_free: 16MiB\n"
        "  block_size: 1MiB\n"
        "policy:\n"
        "  name: fixed\n"
        "fuse:\n"
        "  threads: 4\n"
        "  attr_timeout: 5\n"
        "  allow_other: false\n"
        "log:\n"
        "  level: debug\n")
    m = mounter(ds.root, cache_dir=cache, pass_cache_dir=False, config=cfg,
                cache_size="20MiB")  # the flag wins over cache.size: 1GiB
    s = m.stats()
    assert os.path.realpath(s["cache_dir"]) == os.path.realpath(cache)
    assert s["cache"]["limit_bytes"] == 20 * MiB
    assert s["policy"]["name"] == "fixed"
    read_all_verify(m.mountpoint, ds)
    assert m.stats()["cache"]["blocks"] == ds.nblocks(1 * MiB) == 5
    assert (cache / "index").is_dir() and (cache / "blocks").is_dir()


BAD_CONFIGS = [
    # (YAML after a comment line, key the message must name, line of the offending key)
    ("cache:\n  size: 10XB\n", "cache.size", 3, "10XB"),
    ("cache:\n  sise: 1MiB\n", "cache.sise", 3, None),
    ("bogus: 1\n", "bogus", 2, None),
    ("fuse:\n  threads: many\n", "fuse.threads", 3, None),
    ("fuse:\n  threads: 0\n", "fuse.threads", 3, None),
    ("fuse:\n  attr_timeout: soon\n", "fuse.attr_timeout", 3, None),
    ("fuse:\n  allow_other: maybe\n", "fuse.allow_other", 3, None),
    ("cache: 5\n", "cache", 2, None),
    ("cache:\n  size: [1, 2]\n", "cache.size", 3, None),
    ("cache:\n  size: -5MiB\n", "cache.size", 3, None),
    ("cache:\n  block_size: 1000\n", "cache.block_size", 3, None),
    ("cache:\n  min_free: lots\n", "cache.min_free", 3, None),
    ("policy:\n  name: nosuch\n", "policy.name", 3, None),
    ("log:\n  level: loud\n", "log.level", 3, None),
]


@pytest.mark.parametrize("yaml_text,key,line,quoted", BAD_CONFIGS,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(BAD_CONFIGS)])
def test_bad_config_rejected_naming_key(dataset, mounter, tmp_path, yaml_text, key, line,
                                        quoted):
    ds = dataset({"a.bin": 10}, seed=45)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("# a config with one mistake\n" + yaml_text)
    m = mounter(ds.root, config=cfg, start=False, cache_size=None)
    res = m.start(expect_ok=False)
    assert res.returncode != 0, "a bad config was accepted"
    assert key in res.stderr, f"message does not name {key}: {res.stderr!r}"
    assert f"bad.yaml:{line}" in res.stderr, f"message does not name bad.yaml:{line}: {res.stderr!r}"
    if quoted:
        assert quoted in res.stderr
    assert not is_mounted(m.mountpoint)


def test_malformed_yaml_names_file(dataset, mounter, tmp_path):
    ds = dataset({"a.bin": 10}, seed=46)
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("cache:\n  size: [1MiB\n")
    m = mounter(ds.root, config=cfg, start=False)
    res = m.start(expect_ok=False)
    assert res.returncode != 0
    assert "broken.yaml" in res.stderr, res.stderr
    assert not is_mounted(m.mountpoint)


@pytest.mark.parametrize("flag,value", [("--cache-size", "10XB"), ("--block-size", "12QB"),
                                        ("--min-free", "x"), ("--policy", "nosuch"),
                                        ("--threads", "zero"), ("--log-level", "loud")])
def test_bad_flag_rejected(dataset, mounter, flag, value):
    ds = dataset({"a.bin": 10}, seed=47)
    m = mounter(ds.root, args=[flag, value], start=False)
    res = m.start(expect_ok=False)
    assert res.returncode != 0
    assert value in res.stderr or flag in res.stderr, res.stderr
    assert not is_mounted(m.mountpoint)


def test_missing_paths_rejected(dataset, mounter, tmp_path):
    ds = dataset({"a.bin": 10}, seed=48)
    cases = {
        "config file": (dict(source=ds.root, config=tmp_path / "no-such.yaml"), "no-such.yaml"),
        "source dir": (dict(source=tmp_path / "no-such-source"), "no-such-source"),
        "source is a file": (dict(source=ds.root / "a.bin"), "a.bin"),
    }
    for what, (kw, needle) in cases.items():
        m = mounter(start=False, **kw)
        res = m.start(expect_ok=False)
        assert res.returncode != 0, f"{what}: accepted"
        assert needle in res.stderr, f"{what}: message does not name {needle}: {res.stderr!r}"
        assert not is_mounted(m.mountpoint), what
    # A mount point that does not exist (Mount.start would create it, so call the CLI).
    res = run_cli("mount", ds.root, tmp_path / "no-such-mnt", "--cache-dir", tmp_path / "c",
                  "--log-file", tmp_path / "nomnt.log")
    assert res.returncode != 0
    assert "no-such-mnt" in res.stderr, res.stderr
    assert not is_mounted(tmp_path / "no-such-mnt")


def test_second_mount_on_busy_cache_dir_fails(dataset, mounter):
    ds = dataset({"a.bin": 100 * KiB}, seed=49)
    m1 = mounter(ds.root)
    m2 = mounter(ds.root, cache_dir=m1.cache_dir, start=False)
    res = m2.start(expect_ok=False)
    assert res.returncode != 0, "two daemons on one cache dir"
    assert "in use" in res.stderr.lower(), res.stderr
    assert not is_mounted(m2.mountpoint)
    # The first mount is unharmed.
    read_all_verify(m1.mountpoint, ds)
    assert m1.stats()["cache"]["blocks"] == 1
