#!/usr/bin/python3
"""epochfs vs local disk, s3fs and rclone over one Ceph RGW bucket behind a slow network.

Generates the datasets (reused while their parameters match), starts RGW inside a network
namespace with tbf on the veth pair and a latency proxy, uploads the data, then for each
dataset x loader x cache size x system: drops the page cache, mounts with an empty cache,
reads --epochs shuffled epochs (every byte checked against the manifest), records per epoch
wall time, throughput, p50/p99 read latency, origin bytes (at the proxy, and epochfs's own
count), daemon RSS and CPU, and unmounts. Writes results.json, results.csv, report.md and
epoch_time.svg to --out, optionally into a section of docs/benchmarks.md. Measures and
reports: it fails only if a read returned wrong bytes or something could not run.

Usually started through bench/run.sh, which installs the peers and builds epochfs first.
Needs root, /dev/fuse, iproute2; s3fs/rclone for those systems. See docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

import dataset as datasetmod  # noqa: E402
import netns  # noqa: E402
import proxy as proxymod  # noqa: E402
import rawget  # noqa: E402
import readers  # noqa: E402
import report  # noqa: E402
import systems  # noqa: E402
from testbed import Testbed, kill_pidfile  # noqa: E402

import epochfs as epochfs_py  # noqa: E402

BUCKETS = {"small": "bench-small", "large": "bench-large"}
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--small", action="store_true", help="CI-sized: a few hundred files, two 16 MiB shards, "
      "local+epochfs+s3fs, 1 epoch, memstore RGW (each default below can still be given)")
    a("--epochfs", default=os.path.join(REPO, "build-release", "cli", "epochfs"),
      help="the epochfs binary (default: build-release/cli/epochfs)")
    a("--work", default="/var/tmp/epochfs-bench", help="datasets, mounts, caches, RGW")
    a("--out", help="results dir (default: WORK/results/DATE)")
    a("--systems", help="comma list of local,raw,epochfs,s3fs,rclone (raw: every object "
      "fetched with --raw-gets parallel GETs, no filesystem; threads loader only) (default: "
      "local,raw,epochfs,s3fs,rclone; "
      "--small: local,raw,epochfs,s3fs)")
    a("--datasets", default="small,large")
    a("--files", type=int, help="small files (default 20000; --small 300)")
    a("--file-kb", type=int, default=110)
    a("--shards", type=int, help="large shards (default 8; --small 2)")
    a("--shard-mib", type=int, help="MiB per shard (default 256; --small 16)")
    a("--epochs", type=int, help="epochs per run (default 3; --small 1)")
    a("--threads", type=int, default=8, help="reader threads / DataLoader workers")
    a("--loaders", default="threads,torch", help="threads and/or torch (DataLoader)")
    a("--raw-gets", type=int, default=64, help="parallel GETs of the raw system")
    a("--compute-ms", type=float, default=0.0,
      help="per file, each reader thread then computes this long (a sleep: the training "
      "step per sample), so the loader consumes at most threads / compute files/s; threads "
      "loader only"),
    a("--fractions", default="1.0,0.5", help="cache size as fractions of the dataset")
    a("--no-plan", action="store_true", help="no epochfs+plan runs at fractions < 1")
    a("--s3fs-once", action="store_true",
      help="run s3fs at the first cache fraction only: it has no size limit, so its runs at "
      "the others repeat that one (the ratios then take its runs at 100%%)")
    a("--rate", default="1gbit", help="tbf rate on both veth ends; 'off' for none")
    a("--delay-ms", type=float, default=10.0, help="proxy delay, each way")
    a("--store", choices=["bluestore", "memstore"], help="RGW object store "
      "(default bluestore; --small memstore)")
    a("--netns", default="epochfs-bench", help="network namespace name")
    a("--subnet", default="10.201.0.0/30", help="veth addresses: .1 host, .2 namespace")
    a("--verify", choices=["sha256", "crc32"], default="sha256",
      help="checksum of every read (crc32 costs the readers ~3.5x less CPU)")
    a("--drop-caches", choices=["every", "first"], default="every",
      help="drop the page cache before every epoch (default: the datasets fit in RAM, and "
      "a page cache kept across epochs would be a second, unlimited cache), or only before "
      "the first (cold) one")
    a("--proxy-workers", type=int, default=4)
    a("--upload-workers", type=int, default=16)
    a("--seed", type=int, default=1)
    a("--epochfs-arg", action="append", default=[], help="extra epochfs mount argument")
    a("--doc", help="also write the report into this markdown file ...")
    a("--doc-section", help="... between <!-- bench:SECTION:begin/end --> markers")
    a("--cleanup", action="store_true", help="only remove a previous run's leftovers")
    args = ap.parse_args(argv)
    small = args.small
    args.systems = (args.systems or ("local,raw,epochfs,s3fs" if small else
                                     "local,raw,epochfs,s3fs,rclone")).split(",")
    args.files = args.files or (300 if small else 20000)
    args.shards = args.shards or (2 if small else 8)
    args.shard_mib = args.shard_mib or (16 if small else 256)
    args.epochs = args.epochs or (1 if small else 3)
    args.store = args.store or ("memstore" if small else "bluestore")
    args.datasets = args.datasets.split(",")
    args.loaders = args.loaders.split(",")
    args.fractions = [float(x) for x in args.fractions.split(",")]
    args.rate = "" if args.rate in ("off", "none", "0") else args.rate
    for s in args.systems:
        if s not in ("local", "raw", "epochfs", "s3fs", "rclone"):
            ap.error(f"unknown system {s}")
    if bool(args.doc) != bool(args.doc_section):
        ap.error("--doc and --doc-section go together")
    return args


def cache_limit(ds: datasetmod.Dataset, fraction: float) -> int:
    """The cache size given to epochfs and rclone: the fraction of what the whole dataset
    takes in a cache, i.e. its allocated size (4 KiB units) plus an allowance for the index
    (epochfs counts its RocksDB files in its limit: ~1.5 MB for 300 files measured; the index
    also holds the namespace snapshot, ~100 B a file) and for the headroom epochfs keeps for the
    index's growth (1% of the limit, 1-64 MiB: cache/BlockCacheImpl.h metadataReserve). Without
    that headroom a "100%" cache of 20,000 files held all but ~0.5% of them."""
    need = fraction * (ds.allocated + (4 << 20) + 1024 * len(ds.files))
    reserve = min(64 << 20, max(1 << 20, need / 0.99 - need))
    # epochfs refuses less than 16 MiB.
    return max(16 << 20, int(need + reserve))


def leftovers(args, bed: Testbed) -> None:
    """Unmounts and kills what a previous (crashed) run left under WORK, then the testbed."""
    for m in sorted(systems.mounts_under(args.work), key=len, reverse=True):
        log(f"leftover mount {m}: unmounting")
        systems.force_unmount(m)
    for pidfile in glob.glob(os.path.join(args.work, "runs", "*", "daemon.pid")):
        kill_pidfile(pidfile, os.path.dirname(pidfile))
    bed.cleanup()


class Runner:
    def __init__(self, args, bed: Testbed | None, data: dict):
        self.args, self.bed, self.data = args, bed, data
        self.rows: list[dict] = []
        self.runs: list[dict] = []
        self.checker = readers.Checker(args.verify)

    def make_system(self, name: str, ds) -> systems.System:
        base = name.replace("+plan", "")
        work = os.path.join(self.args.work, "runs", f"{ds.name}-{name.replace('+', '-')}")
        os.makedirs(work, exist_ok=True)
        if base == "local":
            return systems.Local(ds.root, log)
        origin = systems.Origin(self.bed.endpoint, self.bed.access_key, self.bed.secret_key)
        bucket = BUCKETS[ds.name]
        if base == "raw":
            return systems.RawOrigin(work, origin, bucket, log)
        if base == "epochfs":
            return systems.Epochfs(work, origin, bucket, log, self.args.epochfs,
                                   self.args.epochfs_arg)
        return {"s3fs": systems.S3fs, "rclone": systems.Rclone}[base](work, origin, bucket, log)

    def run(self, ds, loader: str, fraction: float | None, name: str) -> None:
        a = self.args
        plan = name.endswith("+plan")
        sysm = self.make_system(name, ds)
        limit = cache_limit(ds, fraction if fraction is not None else 1.0)
        label = f"{ds.name}/{loader}/{'-' if fraction is None else f'{fraction:.0%}'}/{name}"
        log(f"run {label}: " + ("local disk" if name == "local" else
                                 f"cache limit {limit / 1e6:.1f} MB" if sysm.has_limit else
                                 "no cache limit (the system has no such option)"))
        drop_caches()
        sysm.start(limit)
        info = {"dataset": ds.name, "loader": loader, "cache_fraction": fraction,
                "system": name, "cache_limit": limit if sysm.has_limit else None,
                "command": sysm.command}
        try:
            tr = None
            if loader == "torch":
                import torchload
                tr = torchload.TorchRunner(sysm.root, ds.files, a.threads, self.checker,
                                           a.seed, plan_mount=sysm.mnt if plan else None)
            for e in range(1, a.epochs + 1):
                if e > 1 and a.drop_caches == "every":
                    drop_caches()
                self.rows.append(self.epoch(ds, loader, fraction, name, sysm, tr, plan, e,
                                            limit))
            st = sysm.daemon_stats()
            if st:
                info["daemon_stats"] = st
        finally:
            sysm.stop()
            sysm.remove_cache()
        self.runs.append(info)

    def epoch(self, ds, loader, fraction, name, sysm, tr, plan, e, limit) -> dict:
        pid = sysm.pid()
        cpu0 = systems.proc_cpu_s(pid) if pid else None
        ob0 = self.bed.origin_bytes() if self.bed and name != "local" else None
        st0 = sysm.daemon_stats()
        if tr is not None:
            res = tr.epoch()
        else:
            order = list(ds.files)
            random.Random(self.args.seed * 1000 + e).shuffle(order)
            t0 = time.perf_counter()
            if plan:
                epochfs_py.publish_plan(sysm.mnt, [f.rel for f in order])
            plan_s = time.perf_counter() - t0
            if name == "raw":
                res = rawget.run_epoch(sysm.origin, sysm.bucket, order, self.args.raw_gets,
                                       self.checker)
            else:
                res = readers.run_epoch(sysm.root, order, self.args.threads, self.checker,
                                        compute_s=self.args.compute_ms / 1000.0)
            res.wall_s += plan_s
        ob1 = self.bed.origin_bytes() if ob0 is not None else None
        st1 = sysm.daemon_stats()
        cpu1 = systems.proc_cpu_s(pid) if pid else None
        mem = systems.proc_mem(pid) if pid else {}
        row = {
            "dataset": ds.name, "loader": loader, "cache_fraction": fraction, "system": name,
            "epoch": e, "cold": e == 1, "wall_s": round(res.wall_s, 4),
            "mb_per_s": round(res.bytes / res.wall_s / 1e6, 2) if res.wall_s else None,
            "files": res.files, "bytes": res.bytes,
            "p50_ms": _ms(readers.percentile(res.latencies, 50)),
            "p99_ms": _ms(readers.percentile(res.latencies, 99)),
            "read_s": round(sum(res.latencies), 3),
            "origin_bytes": None if ob0 is None else ob1 - ob0,
            "daemon_origin_bytes": None, "hit_ratio": None,
            "stall_s": None, "stall_share": None,
            "rss_mb": round(mem["rss"] / 2**20, 1) if "rss" in mem else None,
            "hwm_mb": round(mem["hwm"] / 2**20, 1) if "hwm" in mem else None,
            "cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 3),
            "cpu_pct": None, "verified_bytes": res.verified_bytes,
            "mismatches": res.mismatch_count, "mismatch_examples": res.mismatches,
            "expected_bytes": ds.bytes, "cache_limit": limit if sysm.has_limit else None,
        }
        if row["cpu_s"] is not None and res.wall_s:
            row["cpu_pct"] = round(100 * row["cpu_s"] / res.wall_s, 1)
        if st0 and st1:
            row["daemon_origin_bytes"] = st1["origin"]["bytes"] - st0["origin"]["bytes"]
            hits = st1["cache"]["hits"] - st0["cache"]["hits"]
            misses = st1["cache"]["misses"] - st0["cache"]["misses"]
            row["hit_ratio"] = round(hits / (hits + misses), 4) if hits + misses else None
            if "stalls" in st1 and "stalls" in st0:  # (daemons before issue 13 have none)
                stalled = st1["stalls"]["reads"] - st0["stalls"]["reads"]
                row["stall_s"] = round(st1["stalls"]["seconds"] - st0["stalls"]["seconds"], 3)
                row["stall_share"] = round(stalled / (hits + misses), 4) if hits + misses \
                    else None
        bad = "" if not res.mismatch_count else f", {res.mismatch_count} BAD READS"
        origin = "-" if ob0 is None else f"{(ob1 - ob0) / 1e6:.1f}"
        log(f"  epoch {e}: {res.wall_s:.2f} s, {row['mb_per_s']} MB/s, p50 {row['p50_ms']} "
            f"ms, p99 {row['p99_ms']} ms, origin {origin} MB{bad}")
        if res.bytes != ds.bytes or res.files != len(ds.files):
            row["mismatches"] += 1
            row["mismatch_examples"].append(("(epoch)", f"read {res.files} files, {res.bytes} "
                                             f"bytes; expected {len(ds.files)}, {ds.bytes}"))
        return row


def _ms(v):
    return None if v is None else round(v * 1000, 3)


def machine() -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def versions(args) -> dict:
    out = {}
    for name, cmd in (("epochfs", [args.epochfs, "--version"]), ("s3fs", ["s3fs", "--version"]),
                      ("rclone", ["rclone", "version"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            out[name] = (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            out[name] = None
    return out


def main(argv) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("run.py: needs root (network namespace, mounts, drop_caches)", file=sys.stderr)
        return 2
    args.work = os.path.realpath(args.work)
    os.makedirs(args.work, exist_ok=True)
    net = netns.plan(args.netns, args.subnet, args.rate)
    bed = Testbed(args.work, net, args.delay_ms, args.store, 0, args.proxy_workers, log)
    # SIGTERM (and SIGHUP) unwind like Ctrl-C, so every finally: below runs.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    leftovers(args, bed)
    if args.cleanup:
        log("cleaned up")
        return 0
    if not os.access(args.epochfs, os.X_OK):
        print(f"run.py: no epochfs binary at {args.epochfs} (scripts/build.sh Release)",
              file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.work, "results",
                                   datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    out = os.path.realpath(out)

    data = {}
    for name in args.datasets:
        if name == "small":
            data[name] = datasetmod.generate(os.path.join(args.work, "data", "small"), "small",
                                             args.files, args.file_kb * 1024, args.seed, log)
        elif name == "large":
            data[name] = datasetmod.generate(os.path.join(args.work, "data", "large"), "large",
                                             args.shards, args.shard_mib << 20, args.seed, log)
        else:
            raise SystemExit(f"unknown dataset {name}")
    total = sum(d.bytes for d in data.values())

    log("measuring the latency proxy's ceiling (loopback, no tbf)")
    secs = 1.5 if args.small else 3.0
    ceiling = []
    for d in sorted({0.0, args.delay_ms}):
        r = subprocess.run([testbed_py(), proxymod.__file__, "ceiling", "--delay-ms", str(d),
                            "--connections", "1,8", "--seconds", str(secs),
                            "--workers", str(args.proxy_workers)],
                           capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            ceiling.append(json.loads(r.stdout))
            log(f"  proxy ceiling at {d:g} ms: {ceiling[-1]['mb_per_s']} MB/s")
        else:
            log(f"  proxy ceiling at {d:g} ms failed: {r.stderr.strip()[-300:]}")

    bed.store_bytes = int(total * 1.5) + (2 << 30)
    runner = Runner(args, bed, data)
    meta = {
        "command": " ".join(shlex.quote(x) for x in [sys.argv[0], *argv]),
        "machine": machine(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(args), "params": {
            k: getattr(args, k) for k in ("small", "systems", "files", "file_kb", "shards",
                                          "shard_mib", "epochs", "threads", "rate", "delay_ms",
                                          "store", "verify", "drop_caches", "seed",
                                          "epochfs_arg", "no_plan", "compute_ms")},
        "datasets": list(data), "loaders": args.loaders, "fractions": args.fractions,
        "dataset_bytes": {k: d.bytes for k, d in data.items()},
        "dataset_files": {k: len(d.files) for k, d in data.items()},
        "proxy_ceiling": ceiling, "notes": [],
    }
    meta["epochfs_version"] = meta["versions"].get("epochfs")
    if args.s3fs_once and "s3fs" in args.systems and len(args.fractions) > 1:
        meta["notes"].append("s3fs ran at the first cache fraction only (--s3fs-once): having no "
                             "size limit, its runs at the others would repeat it; the ratios "
                             "at other fractions compare with that run.")
    elif "s3fs" in args.systems and any(f < 1 for f in args.fractions):
        meta["notes"].append("s3fs has no cache size limit (only ensure_diskfree): its runs "
                             "at a cache fraction below 100% cache the whole dataset.")
    if "torch" in args.loaders:
        try:
            import torchload  # noqa: F401 - only whether it imports
        except ImportError as e:
            meta["notes"].append(f"torch loader skipped: {e}")
            args.loaders = [x for x in args.loaders if x != "torch"]
            meta["loaders"] = args.loaders
    failed = None
    try:
        bed.start()
        for name, d in data.items():
            bed.upload(BUCKETS[name], d.root, args.upload_workers)
        for name, d in data.items():
            bed.warm(BUCKETS[name], args.upload_workers)
            for loader in args.loaders:
                for i, frac in enumerate(args.fractions):
                    # No cache: local disk and the raw origin run once per loader; the raw
                    # origin has no DataLoader form.
                    names = [s for s in args.systems
                             if s not in ("local", "raw") or i == 0]
                    if loader != "threads":
                        names = [s for s in names if s != "raw"]
                    if args.s3fs_once and i > 0:
                        names = [s for s in names if s != "s3fs"]
                    if frac < 1 and "epochfs" in args.systems and not args.no_plan:
                        names.insert(names.index("epochfs") + 1, "epochfs+plan")
                    for s in names:
                        if not bed.proxy_alive():
                            raise RuntimeError("the latency proxy died")
                        runner.run(d, loader, None if s in ("local", "raw") else frac, s)
        meta["qdisc"] = netns.qdisc_stats(net)
    except KeyboardInterrupt:
        failed = "interrupted"
        log("interrupted: cleaning up")
    except Exception as e:  # noqa: BLE001 - written to the results, then re-raised
        failed = f"{type(e).__name__}: {e}"
        log(f"failed: {failed}")
        raise
    finally:
        for m in sorted(systems.mounts_under(args.work), key=len, reverse=True):
            systems.force_unmount(m)
        bed.cleanup()
        meta["failed"] = failed
        write_results(args, out, meta, runner)
    bad = sum(r["mismatches"] for r in runner.rows)
    if bad:
        log(f"{bad} reads returned wrong bytes: see {out}/results.json")
        return 1
    return 0 if not failed else 130


def testbed_py() -> str:
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def write_results(args, out: str, meta: dict, runner: Runner) -> None:
    results = {"meta": meta, "epochs": runner.rows, "runs": runner.runs}
    results["ratios"] = report.ratios(results) if runner.rows else []
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    report.write_csv(results, os.path.join(out, "results.csv"))
    with open(os.path.join(out, "epoch_time.svg"), "w") as f:
        f.write(report.svg(results))
    md = report.markdown(results, "epoch_time.svg")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    log(f"results in {out}: results.json, results.csv, report.md, epoch_time.svg")
    if args.doc and runner.rows:
        svg_path = report.write_doc(results, args.doc, args.doc_section)
        log(f"updated section {args.doc_section} of {args.doc} and {svg_path}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
