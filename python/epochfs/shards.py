"""Plans of shards (WebDataset tar, TFRecord): files read whole, in order, several at once.

A dataset packed in shards is read shard after shard in a shuffled shard order, each shard
from its start to its end; with a DataLoader of W workers, W shards stream at once (worker w
reads shards[w::W], as WebDataset's split_by_worker does). A plan that names the shards as
whole files says in which order the files come, but not that W of them are read side by side:
the daemon would prefetch the first shard to its end before the second one's start, while the
second worker is waiting for it. `shard_records` names the shards' blocks in the order the W
streams read them, one block of each in turn, so that the daemon prefetches the next blocks
of every shard being read, and the next shards' before they start:

    import epochfs
    for epoch in range(epochs):
        order = [shards[i] for i in torch.randperm(len(shards))]
        epochfs.publish_shard_plan("/mnt/data", order, streams=loader.num_workers)
        dataset.set_shards(order)        # worker w reads order[w::num_workers]
        for batch in loader:
            ...
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence

from .plan import PathLike, Record, publish_plan, read_stats


def _blocks(path: str, size: int, block: int) -> Iterator[Record]:
    for offset in range(0, size, block):
        yield Record(path, offset, min(block, size - offset))


def _stream(mountpoint: str, shards: Sequence[PathLike], block: int) -> Iterator[Record]:
    for shard in shards:
        p = os.fspath(shard)
        where = p if os.path.isabs(p) else os.path.join(mountpoint, p)
        try:
            size = os.stat(where).st_size
        except OSError as e:
            raise OSError(e.errno, f"shard {p!r}: {e.strerror}", where) from None
        yield from _blocks(p, size, block)


def shard_records(mountpoint: PathLike, shards: Sequence[PathLike], streams: int = 1,
                  block_size: Optional[int] = None) -> List[Record]:
    """The records of a plan of `shards` read by `streams` readers at once: shard i by reader
    i % streams, each reader its shards in order, all at the same pace. Each shard is cut in
    blocks of `block_size` (default: the mount's cache.block_size, from its stats), and the
    readers' blocks are interleaved one by one. The shards are stat()ed through the mount
    (OSError naming a missing one)."""
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
        raise ValueError(f"streams must be an int >= 1, not {streams!r}")
    mp = os.fspath(mountpoint)
    block = block_size if block_size is not None else read_stats(mp)["cache"]["block_size"]
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block_size must be an int >= 1, not {block!r}")
    active = [_stream(mp, list(shards)[w::streams], block) for w in range(streams)]
    out: List[Record] = []
    while active:
        still = []
        for it in active:
            r = next(it, None)
            if r is not None:
                out.append(r)
                still.append(it)
        active = still
    return out


def publish_shard_plan(mountpoint: PathLike, shards: Sequence[PathLike], streams: int = 1,
                       resume: bool = False) -> int:
    """Publishes the plan of `shards` read by `streams` readers at once (shard_records) as the
    coming epoch's (resume=True: the rest of the current one); returns the records sent."""
    return publish_plan(mountpoint, shard_records(mountpoint, shards, streams), resume=resume)
