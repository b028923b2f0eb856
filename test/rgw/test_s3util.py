"""Tests of the RGW test tooling (rgw.sh, s3util.py) against a real RGW.

  /usr/bin/python3 -m pytest -q test/rgw/test_s3util.py

Starts one RGW for the module (rgw.sh installs the Debian packages if needed: root), or uses
the one in $EPOCHFS_RGW_DIR if set (e.g. a ctest fixture). The signer tests need no server.
"""
import datetime
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3util  # noqa: E402

# AWS's worked examples for S3 SigV4 ("Signature Calculations for the Authorization
# Header", examples "GET Object" and "GET Bucket (List Objects)").
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_DATE = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)


def test_sigv4_aws_example_get_object():
    h = s3util.sign_v4("GET", "examplebucket.s3.amazonaws.com", "/test.txt", None,
                       {"Range": "bytes=0-9"}, s3util.EMPTY_SHA256, AWS_KEY, AWS_SECRET,
                       "us-east-1", now=AWS_DATE)
    assert h["Authorization"].endswith(
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature="
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_sigv4_aws_example_list_objects():
    h = s3util.sign_v4("GET", "examplebucket.s3.amazonaws.com", "/",
                       {"max-keys": "2", "prefix": "J"}, {}, s3util.EMPTY_SHA256, AWS_KEY,
                       AWS_SECRET, "us-east-1", now=AWS_DATE)
    assert h["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_uri_encoding():
    assert s3util.object_path("b", "a b/c+d%e=f/é") == "/b/a%20b/c%2Bd%25e%3Df/%C3%A9"
    assert s3util.object_path("b", "a//b/") == "/b/a//b/"
    assert s3util.uri_encode("a/b~c_d-e.f") == "a%2Fb~c_d-e.f"


@pytest.fixture(scope="module")
def rgw(tmp_path_factory):
    shared = os.environ.get("EPOCHFS_RGW_DIR")
    if shared:
        yield shared
        return
    d = str(tmp_path_factory.mktemp("rgw") / "rgw")
    try:
        s3util.start_rgw(d)  # capture_output: hangs if a daemon kept our pipes
        yield d
    finally:
        s3util.stop_rgw(d)


@pytest.fixture
def s3(rgw):
    return s3util.client_for(rgw)


@pytest.fixture
def bucket(s3, request):
    name = "t-" + request.node.name.lower().replace("_", "-")[:50]
    s3.make_bucket(name)
    return name


AWKWARD_KEYS = ["plain", "with space", "plus+sign", "per%cent", "eq=ual", "amp&er?q#h",
                "ünïcödé/漢字", "dir/sub/leaf", "a//double", "trailing/", "tilde~star*",
                "(paren)[br]{c}!$'@,;:"]


def test_awkward_keys_round_trip(s3, bucket):
    for i, key in enumerate(AWKWARD_KEYS):
        s3.put_object(bucket, key, f"value {i}")
    for i, key in enumerate(AWKWARD_KEYS):
        assert s3.get_object(bucket, key) == f"value {i}".encode(), key
    assert sorted(s3.list_keys(bucket)) == sorted(AWKWARD_KEYS)
    s3.delete_object(bucket, "with space")
    assert "with space" not in s3.list_keys(bucket)


def test_ranges_and_conditions(s3, bucket):
    etag = s3.put_object(bucket, "ten", b"0123456789")
    assert s3.get_object(bucket, "ten", (2, 5)) == b"2345"
    assert s3.get_object(bucket, "ten", "bytes=-3") == b"789"
    assert s3.get_object(bucket, "ten", (8, None)) == b"89"
    assert s3.get(bucket, "ten", (10, None), ok=(416,))[0] == 416
    assert s3.get(bucket, "ten", headers={"If-Match": '"x"'}, ok=(412,))[0] == 412
    assert s3.get(bucket, "ten", headers={"If-None-Match": etag}, ok=(304,))[0] == 304
    st, h, body = s3.get(bucket, "ten", (0, 0), headers={"If-Match": etag})
    assert (st, body, h["content-range"]) == (206, b"0", "bytes 0-0/10")


def test_signature_checked(s3, bucket):
    s3.put_object(bucket, "k", b"v")
    bad = s3util.S3(endpoint=s3.endpoint, access_key=s3.access_key,
                    secret_key=s3.secret_key + "x", region=s3.region)
    with pytest.raises(s3util.S3Error) as e:
        bad.get_object(bucket, "k")
    assert (e.value.status, e.value.code) == (403, "SignatureDoesNotMatch")
    # Any region string is accepted in the scope, as long as the signature uses it.
    other = s3util.S3(endpoint=s3.endpoint, access_key=s3.access_key,
                      secret_key=s3.secret_key, region="eu-west-3")
    assert other.get_object(bucket, "k") == b"v"


def test_list_pagination_and_delimiter(s3, bucket):
    for i in range(25):
        s3.put_object(bucket, f"p/{i:02d}", b"")
    s3.put_object(bucket, "p/sub/x", b"")
    keys = [o["Key"] for o in s3.list_objects(bucket, "p/", page_size=7) if "Key" in o]
    assert keys == [f"p/{i:02d}" for i in range(25)] + ["p/sub/x"]
    top = list(s3.list_objects(bucket, "p/", delimiter="/", page_size=7))
    assert [o.get("Key") or o.get("Prefix") for o in top][-1] == "p/sub/"
    assert len(top) == 26


def test_sync_and_cli(s3, bucket, tmp_path, rgw):
    src = tmp_path / "src"
    for i in range(300):
        p = src / f"d{i % 3}" / f"f {i}+.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(i))
    assert s3.sync(str(src), bucket, "pre") == (300, sum(range(300)))
    keys = s3.list_keys(bucket, "pre/")
    assert len(keys) == 300 and "pre/d0/f 0+.bin" in keys
    assert s3.get_object(bucket, "pre/d1/f 7+.bin") == (src / "d1" / "f 7+.bin").read_bytes()
    # The command line, with the environment rgw.sh wrote.
    env = dict(os.environ, **s3util.load_env(rgw))
    cli = [sys.executable, s3util.__file__]
    out = subprocess.run(cli + ["ls", bucket, "pre/d2/"], env=env, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    assert len([k for k in out if k]) == 100
    got = subprocess.run(cli + ["get", bucket, "pre/d1/f 7+.bin"], env=env, check=True,
                         capture_output=True).stdout
    assert got == (src / "d1" / "f 7+.bin").read_bytes()


def test_status(rgw):
    assert subprocess.run([s3util.RGW_SH, "status", rgw], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("radosgw") is None, reason="radosgw not installed")
def test_second_instance_in_parallel(rgw, tmp_path):
    """ctest may run two RGW-backed tests at once: a second instance must not disturb the
    first (own ports, own DIR)."""
    d = str(tmp_path / "rgw2")
    t0 = time.monotonic()
    try:
        env = s3util.start_rgw(d, "--replace")
        startup = time.monotonic() - t0
        assert env["EPOCHFS_S3_ENDPOINT"] != s3util.load_env(rgw)["EPOCHFS_S3_ENDPOINT"]
        two = s3util.client_for(d)
        two.make_bucket("second")
        two.put_object("second", "k", b"2")
        assert two.get_object("second", "k") == b"2"
        one = s3util.client_for(rgw)
        assert not _bucket_exists(one, "second")
        print(f"second instance ready in {startup:.1f} s")
    finally:
        s3util.stop_rgw(d)
    assert not os.path.exists(d)
    assert subprocess.run([s3util.RGW_SH, "status", rgw], capture_output=True).returncode == 0


def _bucket_exists(s3, name):
    try:
        s3.request("HEAD", name)
        return True
    except s3util.S3Error as e:
        if e.status == 404:
            return False
        raise
