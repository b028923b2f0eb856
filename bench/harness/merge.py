#!/usr/bin/env python3
"""merge.py BASE.json EXTRA.json OUT.json: the results of BASE with every run of EXTRA put in
(a run being dataset x loader x cache fraction x system), replacing BASE's run of the same
key. For re-running some systems after a fix without repeating a whole run; the two runs'
parameters must match (datasets, network, threads, epochs), and the merged report says which
rows came from the second invocation, with its command and date. Then render it with
`report.py OUT.json [--doc FILE --doc-section NAME]`."""
from __future__ import annotations

import json
import sys

# Parameters that must agree for the rows to be comparable.
SAME = ("files", "file_kb", "shards", "shard_mib", "epochs", "threads", "rate", "delay_ms",
        "store", "verify", "drop_caches", "seed")


def key(r: dict) -> tuple:
    return (r["dataset"], r["loader"], r["cache_fraction"], r["system"])


def merge(base: dict, extra: dict) -> dict:
    bp, ep = base["meta"]["params"], extra["meta"]["params"]
    diff = [k for k in SAME if bp.get(k) != ep.get(k)]
    if diff:
        raise SystemExit(f"merge: parameters differ: {', '.join(diff)}")
    if extra["meta"].get("failed"):
        raise SystemExit(f"merge: the second run failed: {extra['meta']['failed']}")
    replaced = {key(r) for r in extra["runs"]}
    out = dict(base)
    out["epochs"] = [r for r in base["epochs"] if key(r) not in replaced] + extra["epochs"]
    out["runs"] = [r for r in base["runs"] if key(r) not in replaced] + extra["runs"]
    meta = dict(base["meta"])
    names = sorted({f"{d}/{ld}/{'-' if f is None else f'{f:.0%}'}/{s}" for d, ld, f, s in replaced})
    meta["notes"] = list(meta.get("notes") or []) + [
        f"Rows of {', '.join(names)} come from a second invocation on the same machine and "
        f"testbed parameters ({extra['meta']['date']}): `{extra['meta']['command']}`."]
    out["meta"] = meta
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        base = json.load(f)
    with open(argv[2]) as f:
        extra = json.load(f)
    merged = merge(base, extra)
    with open(argv[3], "w") as f:
        json.dump(merged, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
