#!/usr/bin/env python3
"""Cold reads from an S3 origin (Ceph RGW) through epochfs vs curl fetching the same objects.

Starts a Ceph RGW (test/rgw/rgw.sh) unless EPOCHFS_S3_ENDPOINT is set, uploads N objects of
~size-kb, then reads them all:
  curl         `curl --aws-sigv4 --parallel`: one process, --parallel GETs in flight
  epochfs-cold through a fresh mount (empty cache), --parallel reader threads
  epochfs-warm the same mount again, page cache dropped: served from the SSD cache
and prints MB/s and the ratios. Measures and reports; asserts only that bytes match.

Usage (root): bench/s3_cold.py --epochfs build/cli/epochfs [--files 2000 --size-kb 110]
"""
import argparse
import concurrent.futures
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "rgw"))
import s3util  # noqa: E402


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochfs", required=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size-kb", type=int, default=110)
    ap.add_argument("--parallel", type=int, default=16)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="epochfs-s3bench-")
    rgw_dir = os.path.join(work, "rgw")
    started = False
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    mounted = False
    try:
        if not os.environ.get("EPOCHFS_S3_ENDPOINT"):
            subprocess.run([os.path.join(ROOT, "test", "rgw", "rgw.sh"), "start", rgw_dir],
                           check=True, stdout=subprocess.DEVNULL)
            started = True
            with open(os.path.join(rgw_dir, "env")) as f:
                for line in f:
                    if line.startswith("export "):
                        k, v = line[7:].strip().split("=", 1)
                        os.environ[k] = v
        endpoint = os.environ["EPOCHFS_S3_ENDPOINT"]
        bucket = f"bench{random.randrange(1 << 30)}"
        src = os.path.join(work, "src")
        rng = random.Random(7)
        digests = {}
        for i in range(args.files):
            rel = f"class_{i % 20:02d}/img_{i:05d}.jpg"
            os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
            data = rng.randbytes(int(args.size_kb * 1024 * rng.uniform(0.8, 1.2)))
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
            digests[rel] = hashlib.sha256(data).hexdigest()
        total = sum(os.path.getsize(os.path.join(src, r)) for r in digests)
        s3 = s3util.S3()
        s3.make_bucket(bucket)
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "rgw", "s3util.py"), "sync",
                        src, bucket], check=True, stdout=subprocess.DEVNULL)
        results = {}

        # curl: one process, one GET per object, --parallel-max in flight on reused connections
        # (the strongest plain-curl baseline: no process per object).
        cfg = os.path.join(work, "curl.cfg")
        with open(cfg, "w") as f:
            for r in digests:
                f.write(f'url = "{endpoint}/{bucket}/{r}"\noutput = "/dev/null"\n')
        t0 = time.perf_counter()
        subprocess.run(["curl", "-sf", "--parallel", "--parallel-max", str(args.parallel),
                        "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                        f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
                        "-H", "x-amz-content-sha256:UNSIGNED-PAYLOAD", "-K", cfg], check=True)
        results["curl"] = time.perf_counter() - t0

        subprocess.run([args.epochfs, "mount", f"s3://{bucket}", mnt, "--endpoint", endpoint,
                        "--cache-dir", os.path.join(work, "cache"), "--cache-size",
                        str(total * 2 + (64 << 20)), "--min-free", "0"], check=True)
        mounted = True

        def read(rel):
            with open(os.path.join(mnt, rel), "rb", buffering=0) as f:
                return rel, hashlib.sha256(f.read()).hexdigest()

        for name in ("epochfs-cold", "epochfs-warm"):
            drop_caches()
            order = list(digests)
            random.shuffle(order)
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.parallel) as ex:
                for rel, d in ex.map(read, order):
                    assert d == digests[rel], f"{name}: {rel} differs"
            results[name] = time.perf_counter() - t0

        print(f"{args.files} objects, {total / 1e6:.1f} MB, {args.parallel} in flight")
        for name, secs in results.items():
            print(f"{name:13s} {secs:7.2f} s {total / secs / 1e6:8.1f} MB/s")
        print(f"epochfs-cold / curl: {results['curl'] / results['epochfs-cold']:.2f}x throughput")
        print(f"epochfs-warm / curl: {results['curl'] / results['epochfs-warm']:.2f}x throughput")
    finally:
        if mounted:
            subprocess.run([args.epochfs, "umount", mnt])
        if started:
            subprocess.run([os.path.join(ROOT, "test", "rgw", "rgw.sh"), "stop", rgw_dir])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
