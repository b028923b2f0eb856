#!/usr/bin/env python3
"""Minimal S3 client for tests: Python 3 standard library only (http.client, hmac, hashlib).

Path-style requests (http://HOST:PORT/BUCKET/KEY), AWS Signature Version 4 with a signed
payload hash, one keep-alive connection per thread. Reads the endpoint and keys from the
environment that `test/rgw/rgw.sh start DIR` writes to DIR/env:

  EPOCHFS_S3_ENDPOINT    http://127.0.0.1:PORT (http only; https is accepted too)
  EPOCHFS_S3_REGION      region used in the signature scope (default us-east-1)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN

As a module (pytest):

  import s3util
  s3 = s3util.S3()                       # or S3(endpoint=..., access_key=..., ...)
  s3.make_bucket("data")
  s3.put_object("data", "train/a b+c%=é.bin", b"bytes")
  s3.list_keys("data", "train/")         # -> ["train/a b+c%=é.bin"]
  s3.get_object("data", "train/x", range_=(0, 99))   # -> bytes
  s3.sync("/some/dir", "data", "train")  # -> (objects, bytes)

  Module-level make_bucket/put_object/delete_object/list_keys/get_object/sync use a default
  client built from the environment.

  env = s3util.start_rgw(str(tmp_path / "rgw"))   # runs rgw.sh start; returns DIR/env.json
  s3 = s3util.client_for(str(tmp_path / "rgw"))   # a client from DIR/env.json
  s3util.stop_rgw(str(tmp_path / "rgw"))

As a command:

  s3util.py mb BUCKET                    s3util.py rb BUCKET
  s3util.py put BUCKET KEY FILE          s3util.py get BUCKET KEY [FILE]
  s3util.py rm BUCKET KEY                s3util.py ls BUCKET [PREFIX]
  s3util.py sync DIR BUCKET [PREFIX] [--workers N]
  s3util.py readall BUCKET [PREFIX] [--workers N]   (GET everything, drop the bytes)
"""
from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Iterator, Mapping

__all__ = ["S3", "S3Error", "make_bucket", "put_object", "get_object", "delete_object",
           "list_keys", "sync", "default_client", "load_env", "client_for", "start_rgw",
           "stop_rgw"]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3Error(Exception):
    """A non-2xx answer. .status (int), .code (S3 error code or ""), .body (bytes)."""

    def __init__(self, method: str, path: str, status: int, body: bytes):
        self.status = status
        self.body = body
        self.code = ""
        try:
            self.code = ET.fromstring(body).findtext("Code") or ""
        except ET.ParseError:
            pass
        super().__init__(f"{method} {path}: HTTP {status} {self.code}".rstrip())


def uri_encode(s: str, keep_slash: bool = False) -> str:
    """SigV4 URI encoding: UTF-8, every byte except A-Z a-z 0-9 - _ . ~ as %XX (uppercase);
    '/' kept only in paths. (A space is %20, never '+'.)"""
    return urllib.parse.quote(s, safe="-_.~/" if keep_slash else "-_.~")


def object_path(bucket: str, key: str = "") -> str:
    """The canonical (and request) path for path-style addressing: each segment encoded,
    '/' kept, so keys with empty segments ("a//b") or a leading '/' survive."""
    path = "/" + uri_encode(bucket)
    if key:
        path += "/" + uri_encode(key, keep_slash=True)
    return path


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_v4(method: str, host: str, path: str, query: Mapping[str, str] | None,
            headers: Mapping[str, str], payload_hash: str, access_key: str, secret_key: str,
            region: str, service: str = "s3", now: datetime.datetime | None = None,
            session_token: str | None = None) -> dict[str, str]:
    """Returns the headers to add (Authorization, x-amz-date, x-amz-content-sha256 and
    x-amz-security-token if any). `path` is already URI-encoded; `headers` (other than Host)
    listed here are signed too."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    out = {"x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    if session_token:
        out["x-amz-security-token"] = session_token
    signed = {k.lower(): " ".join(str(v).strip().split()) for k, v in headers.items()}
    signed.update(out)
    signed["host"] = host
    names = sorted(signed)
    canonical_headers = "".join(f"{n}:{signed[n]}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_query = "&".join(
        f"{uri_encode(k)}={uri_encode(v)}"
        for k, v in sorted((str(k), str(v)) for k, v in (query or {}).items()))
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, signed_headers, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), date), region), service),
                "aws4_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed_headers}, Signature={signature}")
    return out


class S3:
    """Thread-safe: each thread gets its own keep-alive connection."""

    def __init__(self, endpoint: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, region: str | None = None,
                 session_token: str | None = None, timeout: float = 60.0):
        env = os.environ
        endpoint = endpoint or env.get("EPOCHFS_S3_ENDPOINT")
        self.access_key = access_key or env.get("AWS_ACCESS_KEY_ID")
        self.secret_key = secret_key or env.get("AWS_SECRET_ACCESS_KEY")
        if not endpoint or not self.access_key or not self.secret_key:
            raise ValueError("S3 endpoint/keys missing: set EPOCHFS_S3_ENDPOINT, "
                             "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (source DIR/env "
                             "written by test/rgw/rgw.sh start DIR)")
        self.region = region or env.get("EPOCHFS_S3_REGION") or "us-east-1"
        self.session_token = session_token or env.get("AWS_SESSION_TOKEN") or None
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"bad endpoint {endpoint!r}: want http://HOST[:PORT]")
        self.endpoint = endpoint.rstrip("/")
        self.scheme = u.scheme
        self.netloc = u.netloc  # the Host header, port included iff in the endpoint
        self.hostname, self.port = u.hostname, u.port
        self.timeout = timeout
        self._local = threading.local()

    # -- transport -------------------------------------------------------------------------

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self._local, "conn", None)
        if c is None:
            cls = (http.client.HTTPSConnection if self.scheme == "https"
                   else http.client.HTTPConnection)
            c = cls(self.hostname, self.port, timeout=self.timeout)
            self._local.conn = c
        return c

    def _drop_conn(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def close(self) -> None:
        """Closes this thread's connection."""
        self._drop_conn()

    def request(self, method: str, bucket: str, key: str = "",
                query: Mapping[str, str] | None = None, body: bytes = b"",
                headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (),
                ) -> tuple[int, dict[str, str], bytes]:
        """Signed request. Returns (status, headers with lower-case names, body). Raises
        S3Error for a status >= 300 not in `ok`. Retries once if a reused connection was
        closed by the server."""
        path = object_path(bucket, key)
        url = path
        if query:
            url += "?" + "&".join(f"{uri_encode(str(k))}={uri_encode(str(v))}"
                                  for k, v in sorted(query.items()))
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        extra = dict(headers or {})
        for attempt in range(2):
            hdrs = dict(extra)
            hdrs.update(sign_v4(method, self.netloc, path, query, {}, payload_hash,
                                self.access_key, self.secret_key, self.region,
                                session_token=self.session_token))
            hdrs["Host"] = self.netloc
            if body or method in ("PUT", "POST"):
                hdrs["Content-Length"] = str(len(body))
            conn = self._conn()
            fresh = conn.sock is None
            try:
                conn.request(method, url, body=body or None, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.BadStatusLine):
                self._drop_conn()
                if fresh or attempt:
                    raise
                continue
            except Exception:
                self._drop_conn()
                raise
            rh = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self._drop_conn()
            if resp.status >= 300 and resp.status not in ok:
                raise S3Error(method, url, resp.status, data)
            return resp.status, rh, data
        raise AssertionError("unreachable")

    # -- operations ------------------------------------------------------------------------

    def make_bucket(self, bucket: str, exist_ok: bool = True) -> None:
        try:
            self.request("PUT", bucket)
        except S3Error as e:
            if not (exist_ok and e.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")):
                raise

    def delete_bucket(self, bucket: str) -> None:
        self.request("DELETE", bucket)

    def put_object(self, bucket: str, key: str, data: bytes | str,
                   headers: Mapping[str, str] | None = None) -> str:
        """Returns the ETag (with its quotes, as S3 sends it)."""
        if isinstance(data, str):
            data = data.encode()
        _, h, _ = self.request("PUT", bucket, key, body=data, headers=headers)
        return h.get("etag", "")

    def get_object(self, bucket: str, key: str, range_: tuple[int, int | None] | str | None
                   = None, headers: Mapping[str, str] | None = None) -> bytes:
        """range_: (first, last) inclusive, (first, None), or a raw "bytes=..." string."""
        return self.get(bucket, key, range_, headers)[2]

    def get(self, bucket: str, key: str, range_=None, headers=None, ok=()):
        """Like get_object but returns (status, headers, body); `ok` lists statuses
        (e.g. 304, 412, 416) to return instead of raising."""
        h = dict(headers or {})
        if isinstance(range_, tuple):
            first, last = range_
            h["Range"] = f"bytes={first}-{'' if last is None else last}"
        elif range_:
            h["Range"] = range_
        return self.request("GET", bucket, key, headers=h, ok=ok)

    def head_object(self, bucket: str, key: str) -> dict[str, str]:
        return self.request("HEAD", bucket, key)[1]

    def delete_object(self, bucket: str, key: str) -> None:
        self.request("DELETE", bucket, key)

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "",
                     page_size: int = 1000) -> Iterator[dict]:
        """ListObjectsV2, all pages. Yields {"Key", "Size", "ETag"} for objects and
        {"Prefix"} for common prefixes (with a delimiter)."""
        token = None
        while True:
            q = {"list-type": "2", "max-keys": str(page_size)}
            if prefix:
                q["prefix"] = prefix
            if delimiter:
                q["delimiter"] = delimiter
            if token:
                q["continuation-token"] = token
            _, _, body = self.request("GET", bucket, query=q)
            root = ET.fromstring(body)
            for c in root.iter(_NS + "Contents"):
                yield {"Key": c.findtext(_NS + "Key"),
                       "Size": int(c.findtext(_NS + "Size") or 0),
                       "ETag": c.findtext(_NS + "ETag")}
            for p in root.iter(_NS + "CommonPrefixes"):
                yield {"Prefix": p.findtext(_NS + "Prefix")}
            if root.findtext(_NS + "IsTruncated") != "true":
                return
            token = root.findtext(_NS + "NextContinuationToken")
            if not token:
                raise S3Error("GET", f"/{bucket}?list-type=2", 200,
                              b"<Error><Code>TruncatedWithoutToken</Code></Error>")

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o["Key"] for o in self.list_objects(bucket, prefix) if "Key" in o]

    def for_each(self, items: list, fn, workers: int = 16) -> None:
        """Calls fn(item) for every item, spread over `workers` threads; each thread has its
        own keep-alive connection, closed when it is done. The first error is raised."""
        def run(chunk):
            try:
                for item in chunk:
                    fn(item)
            finally:
                self.close()

        chunks = [items[i::workers] for i in range(workers)]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(run, c) for c in chunks if c]:
                f.result()

    def read_all(self, bucket: str, prefix: str = "", workers: int = 16) -> tuple[int, int]:
        """GETs every object under BUCKET/PREFIX with `workers` threads and drops the bytes
        (warms the origin's caches). Returns (objects, bytes)."""
        total = [0, 0]
        lock = threading.Lock()

        def get(key):
            n = len(self.get_object(bucket, key))
            with lock:
                total[0] += 1
                total[1] += n

        self.for_each(self.list_keys(bucket, prefix), get, workers)
        return total[0], total[1]

    def sync(self, src_dir: str, bucket: str, prefix: str = "", workers: int = 16,
             progress: bool = False) -> tuple[int, int]:
        """Uploads every regular file under src_dir to BUCKET/PREFIX/relative/path ('/'
        separators) with `workers` threads (one connection each). Returns (objects, bytes).
        Not a real sync: nothing is deleted, everything is uploaded."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        files = []
        for root, dirs, names in os.walk(src_dir):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(root, n)
                if os.path.isfile(p):
                    rel = os.path.relpath(p, src_dir).replace(os.sep, "/")
                    files.append((p, prefix + rel))
        total = [0, 0]
        lock = threading.Lock()
        t0 = time.monotonic()

        def upload(item):
            p, key = item
            with open(p, "rb") as f:
                data = f.read()
            self.put_object(bucket, key, data)
            with lock:
                total[0] += 1
                total[1] += len(data)
                if progress and total[0] % 1000 == 0:
                    print(f"  {total[0]}/{len(files)} objects, "
                          f"{total[0] / (time.monotonic() - t0):.0f}/s", file=sys.stderr)

        self.for_each(files, upload, workers)
        return total[0], total[1]


RGW_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rgw.sh")


def load_env(rgw_dir: str) -> dict[str, str]:
    """The variables `rgw.sh start RGW_DIR` wrote to RGW_DIR/env.json."""
    with open(os.path.join(rgw_dir, "env.json")) as f:
        return json.load(f)


def client_for(rgw_dir: str) -> S3:
    e = load_env(rgw_dir)
    return S3(endpoint=e["EPOCHFS_S3_ENDPOINT"], access_key=e["AWS_ACCESS_KEY_ID"],
              secret_key=e["AWS_SECRET_ACCESS_KEY"], region=e["EPOCHFS_S3_REGION"])


def start_rgw(rgw_dir: str, *args: str, timeout: float = 600) -> dict[str, str]:
    """Runs `rgw.sh start RGW_DIR ARGS...` (e.g. "--store", "bluestore") and returns its
    variables (load_env). Raises RuntimeError with rgw.sh's messages if it fails."""
    r = subprocess.run([RGW_SH, "start", rgw_dir, *args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"rgw.sh start {rgw_dir} failed ({r.returncode}):\n{r.stderr}")
    return load_env(rgw_dir)


def stop_rgw(rgw_dir: str, timeout: float = 120) -> None:
    """Runs `rgw.sh stop RGW_DIR` (safe if it is not running)."""
    r = subprocess.run([RGW_SH, "stop", rgw_dir], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"rgw.sh stop {rgw_dir} failed ({r.returncode}):\n{r.stderr}")


_default: S3 | None = None


def default_client() -> S3:
    """A client from the environment, created on first use."""
    global _default
    if _default is None:
        _default = S3()
    return _default


def make_bucket(bucket: str, exist_ok: bool = True) -> None:
    default_client().make_bucket(bucket, exist_ok)


def put_object(bucket: str, key: str, data: bytes | str) -> str:
    return default_client().put_object(bucket, key, data)


def get_object(bucket: str, key: str, range_=None) -> bytes:
    return default_client().get_object(bucket, key, range_)


def delete_object(bucket: str, key: str) -> None:
    default_client().delete_object(bucket, key)


def list_keys(bucket: str, prefix: str = "") -> list[str]:
    return default_client().list_keys(bucket, prefix)


def sync(src_dir: str, bucket: str, prefix: str = "", workers: int = 16) -> tuple[int, int]:
    return default_client().sync(src_dir, bucket, prefix, workers)


def main(argv: list[str]) -> int:
    args = argv[1:]
    workers = 16
    if "--workers" in args:
        i = args.index("--workers")
        workers = int(args[i + 1])
        del args[i:i + 2]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = args[0], args[1:]
    try:
        s3 = S3()
        if cmd == "mb" and len(rest) == 1:
            s3.make_bucket(rest[0])
        elif cmd == "rb" and len(rest) == 1:
            s3.delete_bucket(rest[0])
        elif cmd == "put" and len(rest) == 3:
            with open(rest[2], "rb") as f:
                print(s3.put_object(rest[0], rest[1], f.read()))
        elif cmd == "get" and len(rest) in (2, 3):
            data = s3.get_object(rest[0], rest[1])
            if len(rest) == 3:
                with open(rest[2], "wb") as f:
                    f.write(data)
            else:
                sys.stdout.buffer.write(data)
        elif cmd == "rm" and len(rest) == 2:
            s3.delete_object(rest[0], rest[1])
        elif cmd == "ls" and len(rest) in (1, 2):
            for k in s3.list_keys(rest[0], rest[1] if len(rest) == 2 else ""):
                print(k)
        elif cmd == "readall" and len(rest) in (1, 2):
            t0 = time.monotonic()
            n, size = s3.read_all(rest[0], rest[1] if len(rest) == 2 else "", workers)
            print(f"read {n} objects, {size} bytes in {time.monotonic() - t0:.1f} s",
                  file=sys.stderr)
        elif cmd == "sync" and len(rest) in (2, 3):
            t0 = time.monotonic()
            n, size = s3.sync(rest[0], rest[1], rest[2] if len(rest) == 3 else "", workers,
                              progress=sys.stderr.isatty())
            dt = time.monotonic() - t0
            print(f"uploaded {n} objects, {size} bytes in {dt:.1f} s "
                  f"({n / dt if dt else 0:.0f} objects/s, {size / dt / 1e6 if dt else 0:.1f} MB/s)",
                  file=sys.stderr)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (S3Error, OSError, ValueError) as e:
        print(f"s3util: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
