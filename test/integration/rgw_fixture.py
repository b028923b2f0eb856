"""Fixtures for tests of epochfs mounts of a real Ceph RGW bucket (test_s3*.py).

conftest.py imports the fixtures from here, so that the session-scoped RGW is started once per
pytest session whichever test files use it.

- `rgw` (session): one RGW (memstore) started with test/rgw/rgw.sh under the session's temp
  dir and stopped at session end, pass or fail; or the instance in $EPOCHFS_RGW_DIR (a ctest
  fixture's), which is left running. If RGW cannot start, every test using it fails (never
  skips).
- `s3mounter` (per test): s3mounter(bucket, prefix="", endpoint=None, ...) mounts
  s3://BUCKET[/PREFIX] with --endpoint/--region and the credentials in the environment of
  the mount command; every mount is unmounted in teardown (as conftest's `mounter`), with the
  same watchdog.
- `proxy` (per test): a faultproxy.FaultProxy in front of RGW, stopped in teardown.
- `unique_bucket` (per test): a bucket name derived from the test name, created.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from epochfs_testlib import CMD_TIMEOUT, Mount, run_cli, supervise_mounts
from faultproxy import FaultProxy

_REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_REPO / "test" / "rgw"))
import s3util  # noqa: E402

# Credential-related variables removed from the environment of every epochfs command, so that
# the caller's own AWS setup never leaks into a test.
_AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_DEFAULT_PROFILE")


@dataclass
class Rgw:
    dir: str
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    # A second endpoint serving TLS with a certificate rgw.sh made for 127.0.0.1, and that
    # certificate ("" when the instance was started without --https).
    https_endpoint: str = ""
    ca_bundle: str = ""

    def client(self, endpoint: str | None = None) -> s3util.S3:
        return s3util.S3(endpoint=endpoint or self.endpoint, access_key=self.access_key,
                         secret_key=self.secret_key, region=self.region)

    def env(self, access_key: str | None = None, secret_key: str | None = None,
            with_credentials: bool = True) -> dict[str, str]:
        """os.environ without any AWS variable, plus this RGW's (or the given) keys."""
        env = {k: v for k, v in os.environ.items() if k not in _AWS_VARS}
        env["HOME"] = env.get("HOME", "/root")
        if with_credentials:
            env["AWS_ACCESS_KEY_ID"] = access_key if access_key is not None else self.access_key
            env["AWS_SECRET_ACCESS_KEY"] = (secret_key if secret_key is not None
                                            else self.secret_key)
        return env

    @property
    def access_log(self) -> Path:
        return Path(self.dir) / "log" / "ceph-client.rgw.epochfs.log"


def _rgw_from(d: str) -> Rgw:
    e = s3util.load_env(d)
    return Rgw(d, e["EPOCHFS_S3_ENDPOINT"], e.get("EPOCHFS_S3_REGION", "us-east-1"),
               e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"],
               e.get("EPOCHFS_S3_HTTPS_ENDPOINT", ""), e.get("EPOCHFS_S3_CA_BUNDLE", ""))


@pytest.fixture(scope="session")
def rgw(tmp_path_factory):
    shared = os.environ.get("EPOCHFS_RGW_DIR")
    if shared:
        try:
            inst = _rgw_from(shared)
        except (OSError, KeyError, ValueError) as e:
            pytest.fail(f"EPOCHFS_RGW_DIR={shared}: no usable RGW instance ({e!r})",
                        pytrace=False)
        yield inst
        return
    # Beside the session's temp dir rather than in it: a run killed before its teardown (a
    # ctest timeout) leaves its RGW in the same place, and --replace stops it next time.
    d = str(tmp_path_factory.getbasetemp()) + "-rgw"
    try:
        s3util.start_rgw(d, "--store", "memstore", "--https", "--replace")
    except Exception as e:  # noqa: BLE001 - any failure to start is a test failure
        try:
            s3util.stop_rgw(d)
        except Exception:  # noqa: BLE001
            pass
        pytest.fail(f"could not start RGW (test/rgw/rgw.sh start {d}): {e}", pytrace=False)
    try:
        yield _rgw_from(d)
    finally:
        s3util.stop_rgw(d)


def bucket_name(node_name: str, suffix: str = "") -> str:
    """A valid, distinct S3 bucket name (3-63 of [a-z0-9-]) from a test's name."""
    base = re.sub(r"[^a-z0-9]+", "-", node_name.lower()).strip("-")
    h = hashlib.sha1((node_name + suffix).encode()).hexdigest()[:8]
    return f"{base[:40].strip('-')}-{suffix + '-' if suffix else ''}{h}"[:63].strip("-")


@pytest.fixture
def unique_bucket(request, rgw):
    name = bucket_name(request.node.name)
    rgw.client().make_bucket(name)
    return name


@pytest.fixture
def proxy(rgw):
    p = FaultProxy(rgw.endpoint).start()
    try:
        yield p
    finally:
        p.stop()


def put_many(s3: s3util.S3, bucket: str, objects: dict[str, bytes], workers: int = 16) -> None:
    """Uploads {key: bytes} with `workers` threads (one keep-alive connection each)."""
    s3.for_each(list(objects.items()), lambda kv: s3.put_object(bucket, *kv), workers)


def run_epochfs(*args, env: dict[str, str] | None = None,
                timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    """`epochfs ARGS...` with `env`; a hang past `timeout` fails the test."""
    return run_cli(*args, timeout=timeout, env=env)


def yaml_of(cfg: dict) -> str:
    """A YAML text of {section: {key: scalar}} (the shape of epochfs configs)."""
    lines = []
    for section, keys in cfg.items():
        lines.append(f"{section}:")
        for k, v in keys.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            lines.append(f"  {k}: {v}")
    return "\n".join(lines) + "\n"


class S3Mount(Mount):
    """A Mount of s3://BUCKET[/PREFIX] (the source kept as a string), with --endpoint,
    --region and the credentials passed in the mount command's environment."""

    def __init__(self, source: str, mountpoint, cache_dir, log_file, endpoint: str,
                 region: str, env: dict[str, str], **kw):
        super().__init__(source, mountpoint, cache_dir, log_file, **kw)
        self.source = source  # not a Path: "s3://b" must stay as written
        self.endpoint = endpoint
        self.region = region
        self.env = env

    def command(self) -> list:
        cmd = super().command()
        if self.endpoint is not None:
            cmd += ["--endpoint", self.endpoint]
        if self.region is not None:
            cmd += ["--region", self.region]
        return cmd

    def refresh(self) -> None:
        res = run_epochfs("refresh", self.mountpoint, env=self.env, timeout=120)
        assert res.returncode == 0, f"epochfs refresh failed ({res.returncode}): {res.stderr}"


@pytest.fixture
def s3mounter(request, tmp_path, rgw):
    """s3mounter(bucket, prefix="", endpoint=None, cache_dir=None, cache_size="256MiB",
    args=(), config=None, env=None, region=None, start=True) -> S3Mount. `config` is a dict
    {section: {key: value}} written as YAML; `env` defaults to rgw.env() (RGW's keys)."""
    mounts: list[S3Mount] = []

    def make(bucket: str, prefix: str = "", endpoint: str | None = None, cache_dir=None,
             cache_size="256MiB", args=(), config: dict | None = None,
             env: dict[str, str] | None = None, region: str | None = None,
             start: bool = True) -> S3Mount:
        n = len(mounts)
        endpoint = endpoint or rgw.endpoint
        region = region or rgw.region
        cfg_path = None
        if config:
            cfg_path = tmp_path / f"s3-{n}.yaml"
            cfg_path.write_text(yaml_of(config))
        source = f"s3://{bucket}" + (f"/{prefix}" if prefix else "")
        m = S3Mount(source, tmp_path / f"mnt-{n}",
                    cache_dir if cache_dir is not None else tmp_path / f"cache-{n}",
                    tmp_path / f"epochfs-{n}.log", endpoint=endpoint, region=region,
                    env=env if env is not None else rgw.env(),
                    cache_size=cache_size, args=args, config=cfg_path)
        mounts.append(m)
        if start:
            m.start()
        return m

    with supervise_mounts(request, mounts):
        yield make
