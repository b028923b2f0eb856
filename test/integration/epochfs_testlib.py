"""Helpers for the integration tests: datasets, real epochfs mounts, stats, cache-dir usage.

Stdlib only; runs under Debian's /usr/bin/python3. The fixtures in conftest.py wrap these so
that every mount is unmounted in teardown, whether the test passed or not.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import random
import signal
import stat
import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
# Config section turning listing-driven prefetch off, for tests whose request counts or
# injected faults are meant for the reads' own requests.
NO_LISTED_PREFETCH = {"policy": {"prefetch_listed": False}}
DEFAULT_BLOCK = 4 * MiB

# No command of the CLI may take longer than this (the mount command returns once ready).
CMD_TIMEOUT = 30
# A test still running after this long gets its daemons killed, so blocked reads fail.
WATCHDOG_SEC = float(os.environ.get("EPOCHFS_TEST_WATCHDOG", "150"))


def epochfs_bin() -> str:
    """The binary under test: $EPOCHFS_BIN (set by ctest), else the usual build dirs."""
    env = os.environ.get("EPOCHFS_BIN")
    if env:
        return env
    repo = Path(__file__).resolve().parents[2]
    for build in ("build-it", "build-release", "build", "build-debug"):
        cand = repo / build / "cli" / "epochfs"
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise RuntimeError("epochfs binary not found: set EPOCHFS_BIN (ctest does)")


def run_cli(*args, timeout: float = CMD_TIMEOUT, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `epochfs ARGS...` (in `env` if given); a hang past `timeout` is a test failure,
    not a stuck suite."""
    cmd = [epochfs_bin(), *map(str, args)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {timeout}s "
                             f"(stdout={e.stdout!r} stderr={e.stderr!r})") from None
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {res.returncode}\n"
                             f"stdout: {res.stdout}\nstderr: {res.stderr}")
    return res


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass
class Dataset:
    """Files written under `root`; `files` maps a '/'-separated relative path to its bytes."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())

    def nblocks(self, block_size: int = DEFAULT_BLOCK) -> int:
        return sum(-(-len(b) // block_size) for b in self.files.values())

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[rel] = data


def make_dataset(root: Path, sizes: dict[str, int], seed: int = 1) -> Dataset:
    """Writes files of the given sizes with deterministic pseudo-random bytes."""
    rng = random.Random(seed)
    ds = Dataset(Path(root))
    ds.root.mkdir(parents=True, exist_ok=True)
    for rel, size in sizes.items():
        ds.write(rel, rng.randbytes(size))
    return ds


def image_like_sizes(n_files: int, classes: int = 10, mean: int = 100 * KiB,
                     seed: int = 2, prefix: str = "") -> dict[str, int]:
    """Sizes for an image-classification-like tree: class folders of ~`mean`-byte files."""
    rng = random.Random(seed)
    return {
        f"{prefix}class_{i % classes:03d}/img_{i:06d}.jpg": int(mean * rng.uniform(0.5, 1.5))
        for i in range(n_files)
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path, chunk: int | None = None) -> bytes:
    """Plain read of a whole file (in `chunk`-sized read() calls if given)."""
    with open(path, "rb", buffering=0) as f:
        if chunk is None:
            return f.read()
        parts = []
        while True:
            b = f.read(chunk)
            if not b:
                return b"".join(parts)
            parts.append(b)


def drop_page_cache(path) -> None:
    """Drops the kernel's cached pages of one file, so the next read reaches the daemon."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_all_verify(mnt: Path, ds: Dataset, rels=None, drop_cache: bool = False) -> None:
    """Reads each file through the mount and asserts it equals the origin's bytes."""
    for rel in (ds.files if rels is None else rels):
        path = mnt / rel
        got = read_file(path)
        exp = ds.files[rel]
        assert len(got) == len(exp), f"{rel}: read {len(got)} bytes, expected {len(exp)}"
        assert got == exp, f"{rel}: bytes differ from the origin (first at {first_diff(got, exp)})"
        if drop_cache:
            drop_page_cache(path)


def first_diff(a: bytes, b: bytes) -> int:
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


# ---------------------------------------------------------------------------------------------
# Mount table and processes


def _unescape_mount_path(s: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(s):
        code = s[i + 1:i + 4]
        if s[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def fuse_mounts() -> list[str]:
    """Mount points of all FUSE mounts, from /proc/self/mountinfo (never touches the mounts,
    so a dead or hung daemon cannot block it)."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype = post.split(" ", 1)[0]
            if fstype.startswith("fuse"):
                points.append(_unescape_mount_path(pre.split(" ")[4]))
    return points


def is_mounted(path) -> bool:
    """True while `path` is a FUSE mount point, even if its daemon is dead (os.path.ismount
    says False for a dead mount because lstat fails with ENOTCONN)."""
    return os.path.realpath(path) in fuse_mounts()


def pid_alive(pid: int | None) -> bool:
    """Whether any thread of process `pid` is still running. An unreaped zombie has exited,
    but a zombie group leader may still have threads on their way out, and its files (the
    cache dir's lock among them) are released only when the last one is gone."""
    if not pid:
        return False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def wait_until(pred, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def daemon_pids_for(mountpoint) -> list[int]:
    """Pids of epochfs processes whose command line names this exact mount point (fallback
    when the pid could not be read from stats)."""
    target = os.fsencode(os.path.realpath(mountpoint))
    raw = os.fsencode(str(mountpoint))
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"epochfs" in os.path.basename(argv[0]) and (target in argv or raw in argv):
            pids.append(int(d))
    return pids


# ---------------------------------------------------------------------------------------------
# Mounts


def read_stats(mountpoint) -> dict:
    with open(Path(mountpoint) / ".epochfs" / "stats", "rb") as f:
        return json.loads(f.read())


def get(stats: dict, dotted: str):
    cur = stats
    for part in dotted.split("."):
        cur = cur[part]
    return cur


def delta(before: dict, after: dict, dotted: str) -> int:
    return get(after, dotted) - get(before, dotted)


def stats_overhead(mount, op: str) -> int:
    """FUSE requests of kind `op` that reading .epochfs/stats itself costs (it is rendered at
    open, so its own reads show in the next reading)."""
    a = mount.stats()
    b = mount.stats()
    c = mount.stats()
    key = "fuse.requests." + op
    return max(delta(a, b, key), delta(b, c, key))


class Mount:
    """One `epochfs mount` of `source` on `mountpoint`. Use through the `mounter` fixture,
    which always calls cleanup()."""

    def __init__(self, source, mountpoint, cache_dir, log_file, cache_size="256MiB",
                 args=(), config=None, pass_cache_dir=True):
        self.source = Path(source)
        self.mountpoint = Path(mountpoint)
        self.cache_dir = Path(cache_dir)
        self.log_file = Path(log_file)
        self.cache_size = cache_size
        self.args = [str(a) for a in args]
        self.config = config
        self.pass_cache_dir = pass_cache_dir  # False: the cache dir comes from the config
        self.env: dict[str, str] | None = None  # the mount command's environment (None: ours)
        self.pid: int | None = None
        self.result: subprocess.CompletedProcess | None = None

    def command(self) -> list:
        cmd = ["mount", self.source, self.mountpoint, "--log-file", self.log_file]
        if self.pass_cache_dir:
            cmd += ["--cache-dir", self.cache_dir]
        if self.cache_size is not None:
            cmd += ["--cache-size", self.cache_size]
        if self.config is not None:
            cmd += ["--config", self.config]
        return cmd + self.args

    def start(self, expect_ok: bool = True) -> subprocess.CompletedProcess:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.result = run_cli(*self.command(), env=self.env)
        if not expect_ok:
            return self.result
        assert self.result.returncode == 0, (
            f"mount failed ({self.result.returncode}): {self.result.stderr.strip()}\n"
            f"log tail:\n{self.log_tail()}")
        # The mount command returns only once the mount is ready.
        assert os.path.ismount(self.mountpoint), "mount returned 0 but nothing is mounted"
        st = self.stats()
        self.pid = int(st["pid"])
        assert pid_alive(self.pid), f"stats names pid {self.pid}, which is not running"
        return self.result

    def stats(self) -> dict:
        return read_stats(self.mountpoint)

    def settled_stats(self, timeout: float = 20.0) -> dict:
        """Stats once no prefetch is in flight and the block count holds still: a reader that
        joined a prefetch has its bytes before the prefetcher has stored the block."""
        deadline = time.monotonic() + timeout
        prev = None
        while True:
            s = self.stats()
            quiet = s["policy"]["prefetch_in_flight"] == 0
            if quiet and prev is not None and prev["cache"]["blocks"] == s["cache"]["blocks"]:
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"stats did not settle within {timeout}s: {s}")
            prev = s if quiet else None
            time.sleep(0.05)

    @property
    def mounted(self) -> bool:
        return is_mounted(self.mountpoint)

    def umount(self) -> None:
        """`epochfs umount`, asserted to succeed and to leave no daemon behind."""
        res = run_cli("umount", self.mountpoint)
        assert res.returncode == 0, f"umount failed ({res.returncode}): {res.stderr.strip()}"
        assert not self.mounted, "umount returned 0 but the mount is still there"
        # umount waits for the daemon to exit, so the cache dir is free again.
        assert not pid_alive(self.pid), f"daemon {self.pid} still running after umount"
        self.pid = None

    def kill9(self) -> None:
        assert self.pid, "no daemon pid"
        os.kill(self.pid, signal.SIGKILL)
        assert wait_until(lambda: not pid_alive(self.pid), 10), f"pid {self.pid} survived SIGKILL"

    def lazy_umount(self) -> None:
        subprocess.run(["fusermount3", "-uz", str(self.mountpoint)], capture_output=True,
                       timeout=CMD_TIMEOUT, stdin=subprocess.DEVNULL)

    def cleanup(self) -> list[str]:
        """Best effort, never raises: leaves no mount and no daemon. Returns what it had to do
        beyond a clean state, for the report."""
        notes = []
        try:
            if self.mounted:
                try:
                    res = run_cli("umount", self.mountpoint)
                    if res.returncode != 0:
                        notes.append(f"epochfs umount exited {res.returncode}: "
                                     f"{res.stderr.strip()}")
                except AssertionError as e:
                    notes.append(str(e))
            if self.mounted:
                notes.append("fell back to fusermount3 -uz")
                self.lazy_umount()
            pids = {p for p in [self.pid, *daemon_pids_for(self.mountpoint)] if pid_alive(p)}
            for pid in pids:
                if not wait_until(lambda: not pid_alive(pid), 10):
                    notes.append(f"killed daemon {pid}")
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    wait_until(lambda: not pid_alive(pid), 10)
            if self.mounted:  # a mount whose daemon we just killed
                self.lazy_umount()
        except Exception as e:  # noqa: BLE001 - teardown must go on
            notes.append(f"cleanup error: {e!r}")
        return notes

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log file)"
        return "\n".join(lines[-n:])


def disk_usage(path) -> int:
    """Real disk usage of a tree, like `du -s --block-size=1`: st_blocks * 512 of every file and
    directory (including `path` itself). Files vanishing during the walk are skipped."""
    return sum(disk_usage_by_entry(path).values())


def disk_usage_by_entry(path) -> dict[str, int]:
    """disk_usage() split by top-level entry ("." is `path` itself), for messages."""
    try:
        out = {".": os.lstat(path).st_blocks * 512}
    except FileNotFoundError:
        return {}
    try:
        with os.scandir(path) as it:
            entries = [(e.name, e.path) for e in it]
    except FileNotFoundError:
        return out
    for name, p in entries:
        out[name] = _tree_usage(p)
    return out


def _tree_usage(top: str) -> int:
    total = 0
    stack = [top]
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return 0
    total += st.st_blocks * 512
    if not stat.S_ISDIR(st.st_mode):
        return total
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                total += st.st_blocks * 512
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return total


def block_files(cache_dir) -> list[Path]:
    """The cache's files: <cache_dir>/blocks/<2hex>/<16hex>, each a block file (one block) or
    an object file (the blocks of a file of many blocks, each at its offset)."""
    blocks = Path(cache_dir) / "blocks"
    return sorted(p for p in blocks.glob("*/*") if p.is_file())


@dataclasses.dataclass(frozen=True)
class CachedBlock:
    """Where one cached block's bytes are on disk."""
    path: Path
    offset: int
    length: int

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read(self.length)


def flip_byte(path, at: int, mask: int = 0x01) -> None:
    """XORs byte `at` of file `path` with `mask`, through the page cache (what a reader of the
    file, the kernel's passthrough included, then sees)."""
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ mask]))


def cached_blocks(cache_dir, block_size: int = DEFAULT_BLOCK) -> list[CachedBlock]:
    """Every block on disk: each `block_size` slot of a cache file that holds allocated bytes
    (SEEK_DATA/SEEK_HOLE), so that an object file's evicted (punched) blocks do not count."""
    out = []
    for path in block_files(cache_dir):
        size = path.stat().st_size
        fd = os.open(path, os.O_RDONLY)
        try:
            slots, at = set(), 0
            while at < size:
                try:
                    data = os.lseek(fd, at, os.SEEK_DATA)
                except OSError as e:
                    if e.errno == errno.ENXIO:
                        break
                    raise
                hole = os.lseek(fd, data, os.SEEK_HOLE)
                slots.update(range(data // block_size, (hole - 1) // block_size + 1))
                at = hole
        finally:
            os.close(fd)
        out += [CachedBlock(path, b * block_size, min(block_size, size - b * block_size))
                for b in sorted(slots)]
    return out


def expect_errno(code: int, fn, *args, **kwargs) -> None:
    """Asserts fn(*args) raises OSError with errno `code`."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        assert e.errno == code, (f"{fn.__name__}{args}: expected {errno.errorcode[code]}, got "
                                 f"{errno.errorcode.get(e.errno, e.errno)} ({e})")
        return
    raise AssertionError(f"{fn.__name__}{args}: expected {errno.errorcode[code]}, but it succeeded")


def force_unmount(mountpoint, pids=()) -> None:
    """Kills the daemon(s) of `mountpoint` and lazily unmounts it: the last resort."""
    for pid in {p for p in [*pids, *daemon_pids_for(mountpoint)] if p}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["fusermount3", "-uz", str(mountpoint)], capture_output=True, timeout=30)


@contextlib.contextmanager
def supervise_mounts(request, mounts: list):
    """Around a mount fixture's yield: a watchdog that kills the daemons of a test running
    over WATCHDOG_SEC, and a teardown that cleans up every mount in `mounts` (unmount, or force
    it), printing the daemon's log when the test failed or the cleanup had to force."""
    def watchdog():
        for m in mounts:
            if m.mounted:
                print(f"\nWATCHDOG: test ran over {WATCHDOG_SEC}s; killing the daemon of "
                      f"{m.mountpoint} so blocked reads fail")
                force_unmount(m.mountpoint, [m.pid])

    timer = threading.Timer(WATCHDOG_SEC, watchdog)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        failed = getattr(request.node, "rep_call", None)
        failed = failed is not None and failed.failed
        for m in reversed(mounts):
            notes = m.cleanup()
            if notes:
                print(f"teardown of {m.mountpoint}: " + "; ".join(notes))
            if failed or notes:
                print(f"--- daemon log {m.log_file} (tail) ---\n{m.log_tail()}")
