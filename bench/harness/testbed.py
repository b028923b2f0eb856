"""The origin side of the benchmark: Ceph RGW and the latency proxy inside a network namespace,
the buckets and their upload, and the cleanup of all of it (also of a crashed earlier run).

    clients on the host --(veth, tbf)--> proxy NS_ADDR:7480 (delay D each way, byte counters)
                                           --> radosgw 127.0.0.1:PORT (the namespace's loopback)

Everything lives under WORK/testbed: rgw/ (rgw.sh's dir), proxy.pid, proxy.counters.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import netns
import proxy as proxymod

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RGW_SH = os.path.join(REPO, "test", "rgw", "rgw.sh")
S3UTIL = os.path.join(REPO, "test", "rgw", "s3util.py")
PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proxy.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PROXY_PORT = 7480


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pidfile(path: str, must_contain: str) -> None:
    """SIGTERM (then SIGKILL) the process in pid file `path` if its command line contains
    `must_contain` (a recycled pid is left alone); removes the file."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        cmdline, pid = "", 0
    if pid and must_contain in cmdline:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _pid_alive(pid):
                break
    try:
        os.unlink(path)
    except OSError:
        pass


class Testbed:
    def __init__(self, work: str, net: netns.Net, delay_ms: float, store: str,
                 store_bytes: int, proxy_workers: int, log):
        self.dir = os.path.join(work, "testbed")
        self.net, self.delay_ms, self.store = net, delay_ms, store
        self.store_bytes, self.proxy_workers, self.log = store_bytes, proxy_workers, log
        self.rgw_dir = os.path.join(self.dir, "rgw")
        self.counters = os.path.join(self.dir, "proxy.counters")
        self.proxy_pidfile = os.path.join(self.dir, "proxy.pid")
        self.proxy_proc: subprocess.Popen | None = None
        self.env: dict = {}
        self.endpoint = f"http://{net.ns_addr.split('/')[0]}:{PROXY_PORT}"

    # --- lifecycle ---------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stops the proxy and RGW and removes the namespace: safe to call at any point, and
        on the leftovers of a run that was killed."""
        kill_pidfile(self.proxy_pidfile, PROXY)
        if self.proxy_proc is not None:
            try:
                self.proxy_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.proxy_proc = None
        if os.path.exists(self.rgw_dir):
            r = subprocess.run([RGW_SH, "stop", self.rgw_dir], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=180)
            if r.returncode != 0:
                self.log(f"warning: rgw.sh stop: {r.stderr.strip()}")
        netns.teardown(self.net)

    def start(self) -> None:
        self.cleanup()
        os.makedirs(self.dir, exist_ok=True)
        netns.setup(self.net)
        self.log(f"namespace {self.net.ns}: host {self.net.host_if} {self.net.host_addr}, "
                 f"ns {self.net.ns_if} {self.net.ns_addr}, tbf {self.net.rate or 'off'}")
        t0 = time.monotonic()
        args = ["--store", self.store, "--replace"]
        size = f"{max(self.store_bytes, 4 << 30) >> 20}M"
        args += ["--bluestore-size", size] if self.store == "bluestore" else \
            ["--memstore-size", size]
        r = subprocess.run([*self.net.exec_prefix(), RGW_SH, "start", self.rgw_dir, *args],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"rgw.sh start failed in namespace {self.net.ns}:\n{r.stderr}")
        with open(os.path.join(self.rgw_dir, "env.json")) as f:
            self.env = json.load(f)
        self.log(f"RGW ({self.store}) at {self.env['EPOCHFS_S3_ENDPOINT']} inside "
                 f"{self.net.ns} in {time.monotonic() - t0:.0f} s")
        upstream = self.env["EPOCHFS_S3_ENDPOINT"].split("//", 1)[1]
        self.proxy_proc = subprocess.Popen(
            [*self.net.exec_prefix(), PY, PROXY, "serve", "--listen",
             f"{self.net.ns_addr.split('/')[0]}:{PROXY_PORT}", "--upstream", upstream,
             "--delay-ms", str(self.delay_ms), "--counters", self.counters,
             "--workers", str(self.proxy_workers)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        with open(self.proxy_pidfile, "w") as f:
            f.write(str(self.proxy_proc.pid))  # `ip netns exec` execs: the pid is python's
        if self.proxy_proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the latency proxy did not start")
        self.log(f"latency proxy {self.endpoint} -> {upstream}, {self.delay_ms:g} ms each way")

    # --- data --------------------------------------------------------------------------------

    def _s3util(self, *args: str, timeout: float = 3600) -> str:
        """s3util.py inside the namespace, straight to RGW (uploads skip tbf and proxy)."""
        env = dict(os.environ, **self.env)
        r = subprocess.run([*self.net.exec_prefix(), PY, S3UTIL, *args], capture_output=True,
                           text=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"s3util {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stderr.strip()

    def upload(self, bucket: str, src_dir: str, workers: int) -> None:
        t0 = time.monotonic()
        self._s3util("mb", bucket)
        self._s3util("sync", src_dir, bucket, "--workers", str(workers))
        self.log(f"uploaded {src_dir} to {bucket} in {time.monotonic() - t0:.0f} s")

    def warm(self, bucket: str, workers: int) -> None:
        """Reads the whole bucket once inside the namespace, so that every system's cold epoch
        finds the origin in the same state (otherwise the first system run after the upload
        pays for the OSD's cold cache alone)."""
        t0 = time.monotonic()
        self._s3util("readall", bucket, "--workers", str(workers))
        self.log(f"read {bucket} once to warm the origin in {time.monotonic() - t0:.0f} s")

    # --- measurements ------------------------------------------------------------------------

    def origin_bytes(self) -> int:
        """Bytes the proxy has sent from the origin to clients so far."""
        return proxymod.read_counters(self.counters)["down"]

    def proxy_alive(self) -> bool:
        return self.proxy_proc is not None and self.proxy_proc.poll() is None

    @property
    def access_key(self) -> str:
        return self.env["AWS_ACCESS_KEY_ID"]

    @property
    def secret_key(self) -> str:
        return self.env["AWS_SECRET_ACCESS_KEY"]
