"""The benchmark's datasets, generated once and reused while their parameters match.

  small/class_XXX/img_XXXXXX.jpg   N files of ~size_kb (uniform 0.8-1.2x), in class folders
  large/shard_XXX.tar              M files of shard_mib MiB

Contents are pseudo-random (incompressible) from a fixed seed. The manifest (manifest.json)
holds, per file, its size, sha256 and crc32, computed while writing: every read in every
system is checked against it.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import zlib
from dataclasses import dataclass, field


@dataclass
class File:
    rel: str      # relative to the dataset root (and the key under the bucket)
    size: int
    sha256: str
    crc32: int


@dataclass
class Dataset:
    name: str     # "small" or "large"
    root: str     # local directory: the local-disk reference reads it
    files: list[File] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def allocated(self) -> int:
        """Bytes on disk at 4 KiB granularity (how a cache counts them)."""
        return sum((f.size + 4095) // 4096 * 4096 for f in self.files)


def many_files(src: str, rels: list[str], content, stamp: str) -> None:
    """Writes content(i) to src/rels[i] for a tree of many small files in folders of 1,000
    (bench/rss_scale.py, bench/plan_memory.py), unless src holds a tree made with the same
    `stamp` already (kept between runs: writing 10^5 files takes a while)."""
    marker = os.path.join(src, ".complete")
    if os.path.exists(marker) and open(marker).read() == stamp:
        return
    shutil.rmtree(src, ignore_errors=True)
    for i, rel in enumerate(rels):
        path = os.path.join(src, rel)
        if i % 1000 == 0:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content(i))
    with open(marker, "w") as f:
        f.write(stamp)


def _write(path: str, rng: random.Random, size: int) -> tuple[str, int]:
    h = hashlib.sha256()
    crc = 0
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 << 20)
            b = rng.randbytes(n)
            f.write(b)
            h.update(b)
            crc = zlib.crc32(b, crc)
            left -= n
    return h.hexdigest(), crc


def _params(kind: str, count: int, size: int, seed: int) -> dict:
    return {"kind": kind, "count": count, "size": size, "seed": seed, "format": 1}


def generate(root: str, kind: str, count: int, size: int, seed: int = 1,
             log=print) -> Dataset:
    """kind "small": `count` files of ~`size` bytes in class folders; "large": `count` files
    of exactly `size` bytes. Reuses `root` if its manifest has the same parameters."""
    params = _params(kind, count, size, seed)
    manifest = os.path.join(root, "manifest.json")
    data_dir = os.path.join(root, "data")
    try:
        with open(manifest) as f:
            m = json.load(f)
        if m["params"] == params:
            ds = Dataset(kind, data_dir, [File(*x) for x in m["files"]])
            log(f"dataset {kind}: reusing {root} ({len(ds.files)} files, "
                f"{ds.bytes / 1e6:.0f} MB)")
            return ds
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(data_dir)
    rng = random.Random(seed)
    ds = Dataset(kind, data_dir)
    log(f"dataset {kind}: generating {count} files in {root}")
    if kind == "small":
        classes = max(10, min(1000, count // 200))
        for c in range(classes):
            os.makedirs(os.path.join(data_dir, f"class_{c:03d}"))
        for i in range(count):
            rel = f"class_{i % classes:03d}/img_{i:06d}.jpg"
            n = max(1, int(size * rng.uniform(0.8, 1.2)))
            sha, crc = _write(os.path.join(data_dir, rel), rng, n)
            ds.files.append(File(rel, n, sha, crc))
    elif kind == "large":
        for i in range(count):
            rel = f"shard_{i:03d}.tar"
            sha, crc = _write(os.path.join(data_dir, rel), rng, size)
            ds.files.append(File(rel, size, sha, crc))
    else:
        raise ValueError(kind)
    with open(manifest + ".tmp", "w") as f:
        json.dump({"params": params, "files": [[x.rel, x.size, x.sha256, x.crc32]
                                               for x in ds.files]}, f)
    os.replace(manifest + ".tmp", manifest)
    log(f"dataset {kind}: {len(ds.files)} files, {ds.bytes / 1e6:.0f} MB")
    return ds
