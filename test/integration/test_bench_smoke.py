"""The benchmark harness (bench/harness/run.py --small) end to end, as CI runs it.

It starts Ceph RGW in a network namespace behind tbf and the latency proxy, mounts epochfs and
s3fs over the same buckets beside the local-disk reference, reads one epoch per system with
reader threads and with a PyTorch DataLoader, at cache sizes of 100% and 50% (epochfs also with
a published plan), and writes results.json, results.csv, report.md and epoch_time.svg.

Asserted: every byte read in every run was checked against the generation-time checksums
(sha256) and matched; every expected system x dataset x loader x cache size x epoch has a row
in the JSON, the CSV and the markdown table; a cold epoch moved at least the dataset through
the proxy; plans reached the daemon. Never any timing: the harness measures, CI does not judge.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from epochfs_testlib import epochfs_bin

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "bench" / "harness"
sys.path.insert(0, str(HARNESS))

SYSTEMS_RUN = ["local", "raw", "epochfs", "s3fs"]


def _expected(datasets, loaders, fractions):
    out = set()
    for ds in datasets:
        for ld in loaders:
            out.add((ds, ld, None, "local", 1))
            if ld == "threads":  # the raw origin: parallel GETs, no DataLoader form
                out.add((ds, ld, None, "raw", 1))
            for frac in fractions:
                for s in ("epochfs", "s3fs"):
                    out.add((ds, ld, frac, s, 1))
                if frac < 1:
                    out.add((ds, ld, frac, "epochfs+plan", 1))
    return out


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the benchmark harness needs root (netns, mounts)", pytrace=False)
    base = tmp_path_factory.mktemp("bench")
    work, out = base / "work", base / "out"
    # Own namespace name and subnet, so that a benchmark run by hand on this machine (default
    # epochfs-bench on 10.201.0.0/30) is not disturbed.
    cmd = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
           str(HARNESS / "run.py"), "--small", "--epochfs", str(epochfs_bin()),
           "--systems", ",".join(SYSTEMS_RUN), "--verify", "sha256",
           "--work", str(work), "--out", str(out),
           "--netns", f"efb-ci-{os.getpid()}", "--subnet", "10.201.1.0/30"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=540,
                       stdin=subprocess.DEVNULL)
    log = f"command: {' '.join(cmd)}\nexit {r.returncode}\nstderr:\n{r.stderr[-8000:]}"
    assert r.returncode == 0, log
    with open(out / "results.json") as f:
        results = json.load(f)
    return results, out, log


def test_every_run_and_epoch_is_recorded(bench_run):
    results, out, log = bench_run
    meta = results["meta"]
    assert meta["failed"] is None, log
    assert meta["datasets"] == ["small", "large"]
    assert meta["loaders"] == ["threads", "torch"], meta.get("notes")
    assert meta["fractions"] == [1.0, 0.5]
    want = _expected(meta["datasets"], meta["loaders"], meta["fractions"])
    got = [(r["dataset"], r["loader"], r["cache_fraction"], r["system"], r["epoch"])
           for r in results["epochs"]]
    assert len(got) == len(set(got)), "a run was recorded twice"
    assert set(got) == want


def test_every_byte_read_was_verified(bench_run):
    results, _, _ = bench_run
    meta = results["meta"]
    assert meta["params"]["verify"] == "sha256"
    for r in results["epochs"]:
        what = f"{r['dataset']}/{r['loader']}/{r['cache_fraction']}/{r['system']}"
        assert r["mismatches"] == 0, (what, r["mismatch_examples"])
        assert r["files"] == meta["dataset_files"][r["dataset"]], what
        assert r["bytes"] == r["expected_bytes"] == meta["dataset_bytes"][r["dataset"]], what
        assert r["verified_bytes"] == r["bytes"], what


def test_cold_epochs_came_from_the_origin_through_the_proxy(bench_run):
    results, _, _ = bench_run
    for r in results["epochs"]:
        what = f"{r['dataset']}/{r['loader']}/{r['cache_fraction']}/{r['system']}"
        if r["system"] == "local":
            assert r["origin_bytes"] is None
            continue
        # Cold epoch, fresh cache: every byte crossed the proxy at least once.
        assert r["origin_bytes"] >= r["bytes"], what
        if r["system"].startswith("epochfs"):
            assert r["daemon_origin_bytes"] >= r["bytes"], what
            assert r["rss_mb"] and r["rss_mb"] > 0, what
            assert r["cpu_s"] is not None, what


def test_plans_reached_the_daemon(bench_run):
    results, _, _ = bench_run
    plan_runs = [x for x in results["runs"] if x["system"] == "epochfs+plan"]
    assert plan_runs
    for x in plan_runs:
        plans = x["daemon_stats"]["plans"]
        assert plans["published"] >= 1, x["daemon_stats"]
        assert plans["unknown_paths"] == 0 and plans["rejected"] == 0, plans
    for x in results["runs"]:
        if x["system"] == "epochfs":
            assert x["daemon_stats"]["plans"]["published"] == 0


def test_csv_markdown_and_plot_were_written(bench_run):
    results, out, _ = bench_run
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results["epochs"])
    assert {r["system"] for r in rows} == {"local", "raw", "epochfs", "epochfs+plan", "s3fs"}
    md = (out / "report.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and " | 1 (cold) | " in ln]
    assert len(table) == len(results["epochs"])
    for s in ("local", "raw", "epochfs", "epochfs+plan", "s3fs"):
        assert any(f" | {s} | " in ln for ln in table), s
    assert "time / raw origin time" in md, "the cold-epoch ratio against the raw origin"
    assert "| ratio |" in md and "epoch_time.svg" in md
    root = ET.parse(out / "epoch_time.svg").getroot()
    bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.find(
        "{http://www.w3.org/2000/svg}title") is not None]
    # One bar per epoch row, plus the references without a cache (local disk, the raw origin)
    # drawn again in each cache-size panel.
    assert len(bars) == len(results["epochs"]) + sum(
        1 for r in results["epochs"] if r["system"] in ("local", "raw")) * (
        len(results["meta"]["fractions"]) - 1)


def test_the_checker_catches_wrong_bytes(tmp_path):
    """The verification the assertions above rely on does fail on a changed byte, a short
    file and a missing file."""
    import dataset
    import readers

    ds = dataset.generate(str(tmp_path / "ds"), "small", 20, 4096, seed=3, log=lambda *_: None)
    for algo in ("sha256", "crc32"):
        assert readers.run_epoch(ds.root, ds.files, 4, readers.Checker(algo)).mismatch_count == 0
    victims = ds.files[:3]
    p = Path(ds.root) / victims[0].rel
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 1
    p.write_bytes(bytes(b))
    (Path(ds.root) / victims[1].rel).write_bytes(b[:100])
    (Path(ds.root) / victims[2].rel).unlink()
    for algo in ("sha256", "crc32"):
        res = readers.run_epoch(ds.root, ds.files, 4, readers.Checker(algo))
        assert res.mismatch_count == 3, res.mismatches
        assert {rel for rel, _ in res.mismatches} == {f.rel for f in victims}
        assert res.verified_bytes == ds.bytes - sum(f.size for f in victims)
