#!/usr/bin/python3
"""A TCP proxy that delays each direction by D ms and counts the bytes it forwards.

The benchmark's model of a remote store: it sits between the clients (epochfs, s3fs, rclone)
and the origin (RGW), and every chunk of bytes it receives is sent on D ms later, in either
direction, without stalling the stream (a chunk read at t leaves at t + D while later chunks
are already being read: a pipe with latency, not a stop-and-wait). A new connection costs one
round trip (2 D) before its first byte reaches the origin, as a TCP handshake would.

Throughput: W worker processes (--workers) share the listening socket, each serving its
connections with threads (two per direction: a reader and a delayed writer), so neither one
GIL nor one core caps the sum. `proxy.py ceiling` measures what it can carry on this machine.

Counters: --counters FILE is a file of W slots of 4 little-endian int64 (bytes origin->client,
bytes client->origin, connections accepted, connections open), one slot per worker, updated
in place through a shared mmap; `read_counters(FILE)` sums them at any moment without asking
the proxy anything.

    proxy.py serve --listen 10.201.0.2:7481 --upstream 127.0.0.1:7480 --delay-ms 10 \
                   --counters /tmp/c --workers 4
    proxy.py ceiling [--delay-ms 0] [--connections 1,8] [--seconds 3]   # prints JSON
"""
from __future__ import annotations

import argparse
import collections
import json
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SLOT = struct.Struct("<4q")  # down, up, accepted, open
CHUNK = 256 * 1024
# Per direction, at most this many bytes wait in the delay line; past it the reader stops
# reading, so TCP flow control pushes back on the sender (bounded memory per connection).
MAX_QUEUED = 32 << 20


def read_counters(path: str) -> dict:
    """Sums of all workers' slots: {"down", "up", "accepted", "open"}."""
    with open(path, "rb") as f:
        data = f.read()
    tot = [0, 0, 0, 0]
    for off in range(0, len(data) - SLOT.size + 1, SLOT.size):
        for i, v in enumerate(SLOT.unpack_from(data, off)):
            tot[i] += v
    return dict(zip(("down", "up", "accepted", "open"), tot))


class _Counters:
    """This worker's slot in the shared counters file."""

    def __init__(self, mm: mmap.mmap | None, slot: int):
        self.mm, self.off = mm, slot * SLOT.size
        self.vals = [0, 0, 0, 0]
        self.lock = threading.Lock()

    def add(self, i: int, n: int) -> None:
        with self.lock:
            self.vals[i] += n
            if self.mm is not None:
                SLOT.pack_into(self.mm, self.off, *self.vals)


def _pipe(src: socket.socket, dst: socket.socket, delay: float, counters: _Counters,
          index: int) -> None:
    """Copies src -> dst, each chunk leaving `delay` s after it arrived. Half-closes dst when
    src ends; closes both on an error."""
    if delay <= 0:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                dst.sendall(data)
                counters.add(index, len(data))
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            _abort(src, dst)
        return

    line: collections.deque = collections.deque()
    cond = threading.Condition()
    queued = [0]
    done = [False]

    def writer():
        try:
            while True:
                with cond:
                    while not line and not done[0]:
                        cond.wait()
                    if not line:
                        break
                    at, data = line.popleft()
                    queued[0] -= len(data) if data else 0
                    cond.notify_all()
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if data is None:  # EOF marker
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
                counters.add(index, len(data))
        except OSError:
            _abort(src, dst)
            with cond:
                done[0] = True
                cond.notify_all()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        while True:
            with cond:
                while queued[0] > MAX_QUEUED and not done[0]:
                    cond.wait()
                if done[0]:
                    break
            data = src.recv(CHUNK)
            with cond:
                line.append((time.monotonic() + delay, data or None))
                queued[0] += len(data)
                cond.notify_all()
            if not data:
                break
    except OSError:
        _abort(src, dst)
        with cond:
            done[0] = True
            cond.notify_all()
    t.join()


def _abort(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _serve_conn(client: socket.socket, upstream: tuple[str, int], delay: float,
                counters: _Counters) -> None:
    counters.add(2, 1)
    counters.add(3, 1)
    try:
        if delay > 0:
            time.sleep(2 * delay)  # the handshake's round trip
        try:
            up = socket.create_connection(upstream, timeout=30)
        except OSError:
            return
        up.settimeout(None)
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = threading.Thread(target=_pipe, args=(client, up, delay, counters, 1), daemon=True)
        t.start()
        _pipe(up, client, delay, counters, 0)
        t.join()
        up.close()
    finally:
        client.close()
        counters.add(3, -1)


def _worker(listener: socket.socket, upstream, delay, counters_path, slot) -> None:
    mm = None
    if counters_path:
        fd = os.open(counters_path, os.O_RDWR)
        mm = mmap.mmap(fd, 0)
        os.close(fd)
    counters = _Counters(mm, slot)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        try:
            client, _ = listener.accept()
        except InterruptedError:
            continue
        except OSError:
            time.sleep(0.01)
            continue
        threading.Thread(target=_serve_conn, args=(client, upstream, delay, counters),
                         daemon=True).start()


def _addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def serve(listen: tuple[str, int], upstream: tuple[str, int], delay_ms: float,
          counters_path: str | None, workers: int, ready_fd: int | None = None) -> None:
    """Runs until SIGTERM/SIGINT. Forks `workers` processes sharing the listening socket."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(listen)
    listener.listen(1024)
    if counters_path:
        with open(counters_path, "wb") as f:
            f.write(b"\0" * SLOT.size * workers)
    pids = []
    for slot in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                _worker(listener, upstream, delay_ms / 1000.0, counters_path, slot)
            finally:
                os._exit(1)
        pids.append(pid)
    listener.close()

    def stop(*_):
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in pids:
            try:
                os.waitpid(p, 0)
            except ChildProcessError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    while True:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        # A worker died: the proxy is broken; stop the rest so the harness notices.
        print(f"proxy: worker {pid} exited", file=sys.stderr)
        stop()


# --- ceiling ---------------------------------------------------------------------------------

def _source_server(sock: socket.socket, stop: threading.Event) -> None:
    """Answers each connection with an endless stream of zeros (sendfile from /dev/zero is
    not allowed, so from a 64 MiB file of zeros in a loop)."""
    buf = bytes(4 << 20)

    def one(c):
        try:
            while not stop.is_set():
                c.sendall(buf)
        except OSError:
            pass
        finally:
            c.close()

    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = sock.accept()
        except (socket.timeout, OSError):
            continue
        threading.Thread(target=one, args=(c,), daemon=True).start()


def _sink(addr, seconds: float) -> tuple[int, float]:
    """Reads from `addr` for about `seconds`; returns (bytes, seconds) counted after a warm-up."""
    s = socket.create_connection(addr)
    view = memoryview(bytearray(1 << 20))
    n = 0
    t0 = time.monotonic()
    counted_from = None
    while True:
        now = time.monotonic()
        if now - t0 > seconds:
            break
        r = s.recv_into(view)
        if not r:
            break
        if now >= t0 + min(1.0, seconds / 3):
            if counted_from is None:
                counted_from = now
            n += r
    s.close()
    return n, time.monotonic() - (counted_from or t0)


def measure_ceiling(delay_ms: float, connections: int, seconds: float, workers: int) -> float:
    """MB/s that `connections` parallel downloads reach through the proxy on loopback: a
    source sending zeros as fast as it can, the proxy (its own processes), and the sinks in
    another process (threads), so that neither end shares a GIL with the proxy."""
    src = socket.socket()
    src.bind(("127.0.0.1", 0))
    src.listen(64)
    stop = threading.Event()
    threading.Thread(target=_source_server, args=(src, stop), daemon=True).start()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    me = os.path.abspath(__file__)
    px = subprocess.Popen([sys.executable, me, "serve", "--listen", f"127.0.0.1:{port}",
                           "--upstream", f"127.0.0.1:{src.getsockname()[1]}",
                           "--delay-ms", str(delay_ms), "--workers", str(workers)],
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        if px.stdout.readline().strip() != b"ready":
            raise RuntimeError("proxy did not start")
        out = subprocess.run([sys.executable, me, "_sinks", f"127.0.0.1:{port}",
                              str(connections), str(seconds)],
                             capture_output=True, text=True, check=True, timeout=seconds + 60)
        return float(out.stdout.strip())
    finally:
        px.terminate()
        px.wait()
        stop.set()
        src.close()


def _sinks(addr: str, connections: int, seconds: float) -> float:
    res = [None] * connections

    def one(i):
        res[i] = _sink(_addr(addr), seconds)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(n / s / 1e6 for n, s in res if s > 0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", required=True, help="HOST:PORT")
    s.add_argument("--upstream", required=True, help="HOST:PORT")
    s.add_argument("--delay-ms", type=float, default=10.0, help="each way")
    s.add_argument("--counters", help="counters file (created)")
    s.add_argument("--workers", type=int, default=4)
    c = sub.add_parser("ceiling")
    c.add_argument("--delay-ms", type=float, default=0.0)
    c.add_argument("--connections", default="1,8")
    c.add_argument("--seconds", type=float, default=3.0)
    c.add_argument("--workers", type=int, default=4)
    if argv[:1] == ["_sinks"]:  # internal: the reading end of `ceiling`
        print(_sinks(argv[1], int(argv[2]), float(argv[3])))
        return 0
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        serve(_addr(a.listen), _addr(a.upstream), a.delay_ms, a.counters, a.workers,
              ready_fd=1 if not sys.stdout.isatty() else None)
        return 0
    out = {"delay_ms": a.delay_ms, "workers": a.workers, "mb_per_s": {}}
    for n in (int(x) for x in a.connections.split(",")):
        out["mb_per_s"][str(n)] = round(measure_ceiling(a.delay_ms, n, a.seconds, a.workers), 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
