"""A small fault-injecting HTTP/1.1 proxy for S3 tests (Python standard library only).

It listens on 127.0.0.1 and forwards each client connection to one upstream connection (the
RGW endpoint), request by request, keep-alive included. Requests are forwarded byte for byte,
Host header and all, so SigV4 signatures made for the proxy's address stay valid (RGW checks
the signature against the Host header it receives, whatever its own port).

    with FaultProxy("http://127.0.0.1:7480") as proxy:
        mount with --endpoint proxy.endpoint
        proxy.fail_next(3, "503", kinds={"get"})   # the next 3 object GETs: 503 SlowDown
        proxy.outage("reset")                      # every request: TCP RST, until...
        proxy.heal()
        proxy.delay(0.1, kinds={"get"})            # every object GET waits 100 ms first
        proxy.count("list"), proxy.records, proxy.faults_injected

Request kinds: "list" (GET on a bucket with list-type=... : ListObjectsV2), "get" (GET of an
object), "head", "put", "delete", "other" (anything else, e.g. GET / or bucket HEAD).

Fault modes:
    "503"       answer 503 SlowDown with an S3 XML error body; the connection stays open
    "500"       answer 500 InternalError (XML body); the connection stays open
    "403", "404"  answer AccessDenied / NoSuchKey (XML body): errors that are not retried
    "close"     close the client connection without answering (FIN)
    "reset"     abort the client connection without answering (RST: SO_LINGER 0)
    "truncate"  forward the upstream answer's status and headers and half of its body, then
                abort the connection (a short body that must never be taken as data)
    "corrupt"   forward the upstream answer with one byte of its body flipped (a bad NIC
                offload or middlebox: status, headers and length all look right)
    "badlength" forward the status and the body, with a Content-Length a third larger than
                the body, then close the connection (a wrong Content-Length)
    "stall"     forward the status, headers and half of the body, then send nothing more
                until the client gives up (a stalled transfer mid-body)
    "ok"        (fail_next only) forward this one: a gap in a sequence of faults

A fault is decided when a request has been read completely, before anything is sent
upstream: a faulted request never reaches RGW.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

MODES = ("503", "500", "403", "404", "close", "reset", "truncate", "corrupt", "badlength",
         "stall")
KINDS = ("list", "get", "head", "put", "delete", "other")

_XML_ERRORS = {
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied"),
    "404": (404, "Not Found", "NoSuchKey", "The specified key does not exist."),
}


@dataclass
class Record:
    """One request the proxy received."""

    kind: str
    method: str
    path: str                      # decoded path, e.g. /bucket/key with spaces
    query: dict[str, str]
    headers: dict[str, str]        # lower-case names
    fault: str | None = None       # the mode injected, or None if forwarded
    status: int | None = None      # upstream status when forwarded
    at: float = field(default_factory=time.monotonic)  # time.monotonic() when received


class _ProtocolError(Exception):
    pass


def _read_head(f) -> tuple[bytes, list[bytes]] | None:
    """Reads a start line and header lines up to the blank line. None on a clean EOF before
    any byte."""
    start = f.readline(65537)
    if not start:
        return None
    while start in (b"\r\n", b"\n"):  # tolerate stray CRLF between messages
        start = f.readline(65537)
        if not start:
            return None
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            raise _ProtocolError("EOF inside headers")
        if line in (b"\r\n", b"\n"):
            return start, lines
        lines.append(line)
        if len(lines) > 200:
            raise _ProtocolError("too many header lines")


def _headers(lines: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        out[name.strip().lower()] = value.strip()
    return out


def _read_body(f, headers: dict[str, str], until_eof: bool) -> bytes:
    """The raw body bytes (chunked framing kept as is, so they can be forwarded verbatim)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size_line = f.readline(65537)
            if not size_line:
                raise _ProtocolError("EOF in chunked body")
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers up to the blank line
                    t = f.readline(65537)
                    if not t:
                        raise _ProtocolError("EOF in trailers")
                    parts.append(t)
                    if t in (b"\r\n", b"\n"):
                        return b"".join(parts)
            data = f.read(size + 2)
            if len(data) != size + 2:
                raise _ProtocolError("EOF in chunk")
            parts.append(data)
    if "content-length" in headers:
        n = int(headers["content-length"])
        data = f.read(n)
        if len(data) != n:
            raise _ProtocolError("EOF in body")
        return data
    if until_eof:
        return f.read()
    return b""


def classify(method: str, path: str, query: dict[str, str]) -> str:
    parts = [p for p in path.split("/") if p]
    if method == "GET" and len(parts) == 1 and "list-type" in query:
        return "list"
    if len(parts) >= 2:
        return {"GET": "get", "HEAD": "head", "PUT": "put", "DELETE": "delete"}.get(
            method, "other")
    return "other"


def _abort(sock: socket.socket) -> None:
    """Closes with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    """Threaded proxy: one thread per client connection. Thread-safe controls."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname or not u.port:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        self.upstream = (u.hostname, u.port)
        self._lock = threading.Lock()
        self._plan: list[tuple[str, frozenset[str] | None]] = []  # one-shot faults, in order
        self._outage: tuple[str, frozenset[str] | None] | None = None
        self._delay: tuple[float, frozenset[str] | None] = (0.0, None)
        self.records: list[Record] = []
        self.faults_injected: dict[str, int] = {m: 0 for m in MODES}
        self.connections = 0
        self._conns: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control ---------------------------------------------------------------------------

    def fail_next(self, n: int, mode: str = "503", kinds=None) -> None:
        """The next `n` requests of `kinds` (default: any kind) fail with `mode`. Calls queue
        up in order; mode "ok" forwards (a gap in a sequence of faults)."""
        if mode not in MODES and mode != "ok":
            raise ValueError(f"mode {mode!r} not in {MODES}")
        ks = frozenset(kinds) if kinds else None
        with self._lock:
            self._plan.extend([(mode, ks)] * n)

    def outage(self, mode: str = "503", kinds=None) -> None:
        """Every request of `kinds` (default: any) fails with `mode` until heal()."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} not in {MODES}")
        with self._lock:
            self._outage = (mode, frozenset(kinds) if kinds else None)

    def delay(self, seconds: float, kinds=None) -> None:
        """Every request of `kinds` (default: any) waits `seconds` before it is forwarded or
        faulted (a slow origin); 0 ends it. heal() leaves it."""
        with self._lock:
            self._delay = (seconds, frozenset(kinds) if kinds else None)

    def _delay_for(self, kind: str) -> float:
        with self._lock:
            seconds, kinds = self._delay
            return seconds if kinds is None or kind in kinds else 0.0

    def heal(self) -> None:
        """Ends an outage and drops the one-shot faults not yet used."""
        with self._lock:
            self._outage = None
            self._plan.clear()

    def pending(self) -> int:
        """One-shot faults not yet injected."""
        with self._lock:
            return len(self._plan)

    def reset_counts(self) -> None:
        with self._lock:
            self.records = []
            self.faults_injected = {m: 0 for m in MODES}

    def count(self, kind: str | None = None, forwarded_only: bool = False) -> int:
        """Requests received (of `kind`, or all)."""
        with self._lock:
            return sum(1 for r in self.records
                       if (kind is None or r.kind == kind)
                       and not (forwarded_only and r.fault))

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = {k: 0 for k in KINDS}
            for r in self.records:
                out[r.kind] += 1
            return out

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def _decide(self, kind: str) -> str | None:
        with self._lock:
            if self._outage and (self._outage[1] is None or kind in self._outage[1]):
                mode = self._outage[0]
            else:
                mode = None
                for i, (m, ks) in enumerate(self._plan):
                    if ks is None or kind in ks:
                        mode = m
                        del self._plan[i]
                        break
            if mode and mode != "ok":
                self.faults_injected[mode] += 1
            return mode

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), name="faultproxy-conn",
                             daemon=True).start()

    # -- one client connection -------------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfile = client.makefile("rb")
        upstream: socket.socket | None = None
        ufile = None
        aborted = False
        try:
            while not self._stopped.is_set():
                head = _read_head(cfile)
                if head is None:
                    return
                start, lines = head
                hdrs = _headers(lines)
                body = _read_body(cfile, hdrs, until_eof=False)
                try:
                    method, target, _version = start.decode("latin-1").split(" ", 2)
                except ValueError:
                    raise _ProtocolError(f"bad request line {start!r}") from None
                u = urllib.parse.urlsplit(target)
                path = urllib.parse.unquote(u.path)
                query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
                kind = classify(method, path, query)
                rec = Record(kind, method, path, query, hdrs)
                mode = self._decide(kind)
                if mode == "ok":
                    mode = None
                rec.fault = mode
                with self._lock:
                    self.records.append(rec)
                if (wait := self._delay_for(kind)) > 0:
                    time.sleep(wait)

                if mode in _XML_ERRORS:
                    status, reason, code, message = _XML_ERRORS[mode]
                    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                           f"<Error><Code>{code}</Code><Message>{message}</Message>"
                           f"<Resource>{target}</Resource><RequestId>faultproxy</RequestId>"
                           "</Error>").encode()
                    resp = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
                            f"Content-Length: {len(xml)}\r\nx-amz-request-id: faultproxy\r\n"
                            "\r\n").encode() + (b"" if method == "HEAD" else xml)
                    client.sendall(resp)
                    continue
                if mode == "close":
                    return
                if mode == "reset":
                    aborted = True
                    _abort(client)
                    return

                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=120)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    ufile = upstream.makefile("rb")
                upstream.sendall(start + b"".join(lines) + b"\r\n" + body)
                while True:  # skip (forward) interim 1xx answers
                    rhead = _read_head(ufile)
                    if rhead is None:
                        raise _ProtocolError("upstream closed before answering")
                    rstart, rlines = rhead
                    status = int(rstart.split(b" ", 2)[1])
                    if status >= 200 or status == 101:
                        break
                    client.sendall(rstart + b"".join(rlines) + b"\r\n")
                rhdrs = _headers(rlines)
                rec.status = status
                no_body = method == "HEAD" or status in (204, 304)
                rbody = b"" if no_body else _read_body(ufile, rhdrs, until_eof=True)
                if mode == "truncate":
                    client.sendall(rstart + b"".join(rlines) + b"\r\n" + rbody[:len(rbody) // 2])
                    aborted = True
                    _abort(client)
                    return
                if mode == "stall":
                    client.sendall(rstart + b"".join(rlines) + b"\r\n" + rbody[:len(rbody) // 2])
                    # Until the client hangs up (its low-speed timeout) or the proxy stops.
                    client.settimeout(0.2)
                    while not self._stopped.is_set():
                        try:
                            if not client.recv(65536):
                                return
                        except socket.timeout:
                            continue
                    return
                if mode == "badlength":
                    lines_out = [ln for ln in rlines
                                 if not ln.lower().startswith(b"content-length:")]
                    lines_out.append(f"Content-Length: {len(rbody) + len(rbody) // 3 + 1}"
                                     "\r\n".encode())
                    client.sendall(rstart + b"".join(lines_out) + b"\r\n" + rbody)
                    return
                if mode == "corrupt" and rbody and "chunked" not in rhdrs.get(
                        "transfer-encoding", "").lower():
                    i = len(rbody) // 2
                    rbody = rbody[:i] + bytes([rbody[i] ^ 0x01]) + rbody[i + 1:]
                client.sendall(rstart + b"".join(rlines) + b"\r\n" + rbody)
                closing = ("close" in rhdrs.get("connection", "").lower()
                           or (not no_body and "content-length" not in rhdrs
                               and "chunked" not in rhdrs.get("transfer-encoding", "")))
                if closing:
                    return
        except (OSError, _ProtocolError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(client)
            if not aborted:
                try:
                    cfile.close()
                    client.close()
                except OSError:
                    pass
            if upstream is not None:
                try:
                    ufile.close()
                    upstream.close()
                except OSError:
                    pass


def closed_port() -> int:
    """A loopback port on which nothing listens (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blackhole:
    """Accepts TCP connections on 127.0.0.1 and never answers (a stalled server)."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                c, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(c)

    def __enter__(self) -> "Blackhole":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for c in self._held:
            c.close()
        self._thread.join(5)
