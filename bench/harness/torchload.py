"""The PyTorch DataLoader run: the same files read by DataLoader worker processes.

A map-style Dataset whose item i is file i of the manifest: __getitem__ (in a worker) reads it
through the system under test, checks its checksum and returns the byte count, the verdict
and its latency samples (timed as in readers.py). The sampler is a RandomSampler with a fixed
seed, so every system sees the same sequence of epoch orders; for "epochfs+plan" it is wrapped
in epochfs.PlanSampler, which publishes each epoch's order before yielding it.

Imported only when a torch run is asked for (importing torch takes seconds).
"""
from __future__ import annotations

import os
import sys
import time
import warnings

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from readers import Checker, EpochResult, read_one

# More workers than cores is the point of the run (they wait on I/O, not on the CPU).
warnings.filterwarnings("ignore", message="This DataLoader will create")

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(_REPO, "python"))
import epochfs  # noqa: E402


class Files(Dataset):
    def __init__(self, root: str, files: list, checker: Checker):
        self.root, self.files, self.checker = root, files, checker

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        f = self.files[i]
        lat: list = []
        n, why = read_one(os.path.join(self.root, f.rel), f, self.checker, lat)
        return f.rel, n, why, lat

    def path_of(self, i: int) -> str:
        return self.files[i].rel


def _identity(batch):
    return batch


class TorchRunner:
    """Epochs of a DataLoader with `workers` processes over `files` under `root`."""

    def __init__(self, root: str, files: list, workers: int, checker: Checker, seed: int,
                 plan_mount: str | None = None, batch_size: int = 16):
        torch.set_num_threads(1)
        self.ds = Files(root, files, checker)
        sampler = RandomSampler(self.ds, generator=torch.Generator().manual_seed(seed))
        if plan_mount:
            sampler = epochfs.PlanSampler(sampler, self.ds.path_of, plan_mount)
        # Shards are read one per item: a batch of one keeps the workers busy.
        bs = 1 if files and files[0].size > (8 << 20) else batch_size
        self.loader = DataLoader(self.ds, batch_size=bs, sampler=sampler, num_workers=workers,
                                 collate_fn=_identity, persistent_workers=False,
                                 prefetch_factor=2 if workers else None)

    def epoch(self) -> EpochResult:
        res = EpochResult()
        t0 = time.perf_counter()
        for batch in self.loader:
            for rel, n, why, lat in batch:
                res.files += 1
                res.bytes += n
                res.latencies.extend(lat)
                if why is None:
                    res.verified_bytes += n
                else:
                    res.add_bad(rel, why)
        res.wall_s = time.perf_counter() - t0
        return res
