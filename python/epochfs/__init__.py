"""epochfs: tell an epochfs mount the order in which a training job will read its files.

An epochfs mount caches a remote dataset on a local SSD. When it knows the order of the coming
epoch (a *plan*), it prefetches ahead of the reader in exactly that order and evicts only
blocks that are not needed again until a later epoch. This package is the client side of that
protocol; standard library only, PyTorch optional.

    import epochfs

    # Any job: publish the order of the coming epoch, then read in that order.
    order = ["train/cat/001.jpg", "train/dog/042.jpg"]
    epochfs.publish_plan("/mnt/data", order)
    for rel in order:
        with open(f"/mnt/data/{rel}", "rb") as f:
            ...

    # PyTorch: wrap the sampler; each epoch's order is published before it is yielded.
    from torch.utils.data import DataLoader, RandomSampler
    sampler = epochfs.PlanSampler(RandomSampler(ds), ds.path_of, "/mnt/data", plan_ahead=1)
    loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=4)

    # Records inside one large file (HDF5): each sample's chunks, for a plan of byte ranges.
    sampler = epochfs.PlanSampler(RandomSampler(range(len(ds))), epochfs.h5py_records(ds),
                                  "/mnt/data")

    # Shards (tar, TFRecord) streamed by 4 DataLoader workers at once, worker w reading
    # order[w::4]: their blocks in the order the workers read them.
    epochfs.publish_shard_plan("/mnt/data", order, streams=4)

    epochfs.read_stats("/mnt/data")   # the daemon's counters (dict)

`import epochfs` does not import torch; `epochfs.PlanSampler` does, if torch is installed.
See docs/python.md in the epochfs repository.
"""

from .plan import (CHUNK_BYTES, NotAnEpochfsMount, Record, is_epochfs_mount, plan_lines,
                   publish_plan, read_stats)
from .records import H5Records, h5py_records
from .shards import publish_shard_plan, shard_records

__version__ = "0.1.0"

__all__ = [
    "CHUNK_BYTES",
    "H5Records",
    "NotAnEpochfsMount",
    "PlanSampler",
    "PlanWarning",
    "Record",
    "h5py_records",
    "is_epochfs_mount",
    "plan_lines",
    "publish_plan",
    "publish_shard_plan",
    "read_stats",
    "shard_records",
]

_LAZY = {"PlanSampler", "PlanWarning"}  # from .sampler, which imports torch if it can


def __getattr__(name):
    if name in _LAZY:
        from . import sampler
        return getattr(sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)
