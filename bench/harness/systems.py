"""The systems under test: how each one is mounted over the bucket and unmounted, and which
process serves it (for RSS and CPU).

  local    the generated directory itself (local disk): the reference, nothing mounted
  epochfs  epochfs mount s3://BUCKET (pid from .epochfs/stats); "epochfs+plan" is the same
           mount with each epoch's order published through epochfs.publish_plan
  s3fs     s3fs BUCKET -f -o use_cache=DIR ... (no cache size limit exists in s3fs)
  rclone   rclone mount --vfs-cache-mode full --vfs-cache-max-size LIMIT
           --vfs-cache-poll-interval 2s ... (the limit is enforced at each poll)

Each mount gets its own mountpoint and cache dir; a mount is always started with an empty
cache dir (a cold start), and stopped (unmounted, daemon gone) before the next one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of `pid` (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_mem(pid: int) -> dict:
    """{"rss": bytes, "hwm": bytes} from /proc/PID/status (VmRSS, VmHWM)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out["rss" if k == "VmRSS" else "hwm"] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def mounted(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == real:
                return True
    return False


def mounts_under(root: str) -> list[str]:
    real = os.path.realpath(root) + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if (mp + "/").startswith(real):
                out.append(mp)
    return out


def force_unmount(path: str) -> None:
    for cmd in (["fusermount3", "-uz", path], ["fusermount", "-uz", path], ["umount", "-l", path]):
        if not mounted(path):
            return
        subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)


class Origin:
    """Where the bucket is: endpoint URL and credentials."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str,
                 region: str = "us-east-1"):
        self.endpoint, self.access_key, self.secret_key, self.region = (
            endpoint, access_key, secret_key, region)


class System:
    name = "?"
    has_limit = True  # whether the system can be told a cache size

    def __init__(self, work: str, origin: Origin | None, bucket: str | None, log):
        self.work, self.origin, self.bucket, self.log = work, origin, bucket, log
        self.mnt = os.path.join(work, "mnt")
        self.cache = os.path.join(work, "cache")
        self.logfile = os.path.join(work, "daemon.log")
        self.proc: subprocess.Popen | None = None
        self.command: list[str] = []

    @property
    def root(self) -> str:
        return self.mnt

    def start(self, limit: int) -> None:
        raise NotImplementedError

    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def stop(self) -> None:
        if mounted(self.mnt):
            subprocess.run(["umount", self.mnt], capture_output=True, stdin=subprocess.DEVNULL)
        force_unmount(self.mnt)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def daemon_stats(self) -> dict | None:
        return None

    def remove_cache(self) -> None:
        """After stop(): the next run starts cold anyway, and the disk is better free."""
        shutil.rmtree(self.cache, ignore_errors=True)

    # helpers

    def _fresh_dirs(self) -> None:
        force_unmount(self.mnt)
        shutil.rmtree(self.cache, ignore_errors=True)
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.cache)

    def _spawn_and_wait(self, cmd: list[str], env: dict | None = None,
                        timeout: float = 90) -> None:
        self.command = cmd
        logf = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=env, start_new_session=True)
        logf.close()
        with open(os.path.join(self.work, "daemon.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.monotonic() + timeout
        while not mounted(self.mnt):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before "
                                   f"mounting; log: {self.logfile}:\n{_tail(self.logfile)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not mount within {timeout} s; log: "
                                   f"{self.logfile}:\n{_tail(self.logfile)}")
            time.sleep(0.05)
        # A listing answers once the daemon serves requests, not just once it is mounted.
        os.listdir(self.mnt)


def _tail(path: str, n: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class Local(System):
    name = "local"
    has_limit = False

    def __init__(self, data_root: str, log):
        super().__init__(data_root, None, None, log)
        self.data_root = data_root

    @property
    def root(self) -> str:
        return self.data_root

    def start(self, limit: int) -> None:
        pass

    def stop(self) -> None:
        pass

    def remove_cache(self) -> None:
        pass


class RawOrigin(System):
    """No filesystem: each epoch GETs every object straight through the link (rawget.py)."""
    name = "raw"
    has_limit = False

    def start(self, limit: int) -> None:
        self.command = ["(parallel GETs, bench/harness/rawget.py)"]

    def stop(self) -> None:
        pass

    def remove_cache(self) -> None:
        pass


class Epochfs(System):
    name = "epochfs"

    def __init__(self, work, origin, bucket, log, binary: str, extra: list[str]):
        super().__init__(work, origin, bucket, log)
        self.binary, self.extra = binary, extra

    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_ACCESS_KEY_ID"] = self.origin.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.origin.secret_key
        return env

    def start(self, limit: int) -> None:
        self._fresh_dirs()
        self.command = [self.binary, "mount", f"s3://{self.bucket}", self.mnt,
                        "--endpoint", self.origin.endpoint, "--region", self.origin.region,
                        "--cache-dir", self.cache, "--cache-size", str(limit),
                        "--min-free", "0", "--log-file", self.logfile, *self.extra]
        r = subprocess.run(self.command, capture_output=True, text=True, env=self._env(),
                           stdin=subprocess.DEVNULL, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"epochfs mount failed ({r.returncode}): {r.stderr.strip()}")
        st = self.daemon_stats() or {}
        if st.get("pid"):
            with open(os.path.join(self.work, "daemon.pid"), "w") as f:
                f.write(str(st["pid"]))

    def pid(self) -> int | None:
        st = self.daemon_stats()
        return st.get("pid") if st else None

    def daemon_stats(self) -> dict | None:
        try:
            with open(os.path.join(self.mnt, ".epochfs", "stats")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if mounted(self.mnt):
            subprocess.run([self.binary, "umount", self.mnt], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        force_unmount(self.mnt)
        if pid:
            _wait_gone(pid, 30)


class S3fs(System):
    name = "s3fs"
    has_limit = False  # s3fs 1.90 has no cache size limit (only ensure_diskfree)

    def start(self, limit: int) -> None:
        self._fresh_dirs()
        pw = os.path.join(self.work, "passwd")
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, f"{self.origin.access_key}:{self.origin.secret_key}\n".encode())
        os.close(fd)
        self._spawn_and_wait(
            ["s3fs", self.bucket, self.mnt, "-f", "-o", f"url={self.origin.endpoint}",
             "-o", "use_path_request_style", "-o", f"endpoint={self.origin.region}",
             "-o", f"passwd_file={pw}", "-o", f"use_cache={self.cache}", "-o", "ro"])


class Rclone(System):
    name = "rclone"

    def start(self, limit: int) -> None:
        self._fresh_dirs()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "RCLONE_"))}
        env.update({
            "RCLONE_CONFIG": os.path.join(self.work, "rclone.conf"),  # absent: env only
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Ceph",
            "RCLONE_CONFIG_BENCH_ENDPOINT": self.origin.endpoint,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": self.origin.access_key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": self.origin.secret_key,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_BENCH_REGION": self.origin.region,
        })
        self._spawn_and_wait(
            ["rclone", "mount", f"bench:{self.bucket}", self.mnt, "--read-only",
             "--vfs-cache-mode", "full", "--cache-dir", self.cache,
             # A bare number is KiB to rclone: the B suffix makes it bytes.
             "--vfs-cache-max-size", f"{limit}B",
             # The limit is enforced at each poll (default every minute): with the default,
             # a "50%" cache holds the whole dataset through an epoch of a few seconds.
             "--vfs-cache-poll-interval", "2s", "--log-level", "NOTICE"], env=env)


def _wait_gone(pid: int, secs: float) -> None:
    deadline = time.monotonic() + secs
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.05)
