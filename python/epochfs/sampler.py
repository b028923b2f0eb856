"""PlanSampler: a PyTorch sampler wrapper that publishes each epoch's order as a plan.

The wrapper materialises the order the wrapped sampler would yield this epoch, publishes it
through `<mountpoint>/.epochfs/plan` (so the daemon prefetches in exactly that order), then
yields the same indices. With DataLoader workers the sampler still runs in the main process,
so one plan per epoch reaches the daemon whatever `num_workers` is.

    from torch.utils.data import DataLoader, RandomSampler
    from epochfs import PlanSampler

    ds = MyImageDataset("/mnt/imagenet/train")            # ds.files[i]: a path under the mount
    sampler = PlanSampler(RandomSampler(ds), ds.files.__getitem__, "/mnt/imagenet")
    loader = DataLoader(ds, batch_size=256, sampler=sampler, num_workers=8)
    for epoch in range(90):
        sampler.set_epoch(epoch)                          # forwarded (DistributedSampler)
        for images, labels in loader:
            ...

Importing this module imports torch if it can: PlanSampler is then a
torch.utils.data.Sampler; without torch it is a plain class with the same behaviour.
`import epochfs` alone never imports torch.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple

from .plan import PathLike, publish_plan

try:
    from torch.utils.data import Sampler as _SamplerBase
except ImportError:  # torch is optional
    class _SamplerBase:  # type: ignore[no-redef]
        def __init__(self, data_source=None):
            pass


class PlanWarning(UserWarning):
    """A plan was not published (on_error="warn"), or one published ahead went unused."""


class _PathOfFailed(Exception):
    # Carries an exception raised by the caller's path_of through publish_plan, so that it is
    # re-raised as it is and never mistaken for (or downgraded like) a publishing failure.
    pass


class PlanSampler(_SamplerBase):
    """Wraps `sampler`; each `iter()` publishes the epoch's order, then yields it.

    sampler:    any sampler, or any iterable of indices with __len__ (RandomSampler,
                SequentialSampler, DistributedSampler, ...).
    path_of:    index -> path of the file that index reads: absolute under `mountpoint` or
                relative to it; or the record it reads inside a large file, (path, offset,
                length); or a list of those (epochfs.h5py_records(dataset) is such a
                path_of). Called once per index per epoch, in the main process.
    mountpoint: the epochfs mount the files are read through.
    plan_ahead: 0 (default): publish each epoch's order when that epoch starts. 1: also draw
                the *next* epoch's order now and publish it right after, so the daemon can
                prefetch across the epoch boundary; that pre-drawn order is what the next
                iter() yields. Caveat: the next order is drawn one epoch early, so draws from a
                shared RNG (RandomSampler without its own `generator`) happen at a different
                time than without plan_ahead; give the sampler its own torch.Generator to keep
                the sequence of orders reproducible. For a sampler with set_epoch() (e.g.
                DistributedSampler) the look-ahead calls set_epoch(e + 1), draws, and restores
                set_epoch(e); if the next iter() then runs at another epoch than e + 1, the
                pre-drawn order is dropped (with a PlanWarning) and the real one published:
                the daemon has then been sent one plan that will not be read.
    on_error:   "raise" (default): a failure to publish (not a mount, a path rejected, an I/O
                error) raises from iteration. "warn": it becomes a PlanWarning and the indices
                are yielded anyway. Exceptions raised by path_of always propagate.

    resume(consumed): the next iter() is an epoch resumed from a checkpoint after its first
                `consumed` indices: the order is drawn as usual (the same draw as in the
                interrupted run, for a reproducible sampler), and only its rest is published
                and yielded.

    len() is the wrapped sampler's, less a pending resume()'s `consumed`. The object pickles
    if `sampler` and `path_of` do (a DataLoader does not send its sampler to workers, so a
    lambda is fine there).
    """

    def __init__(self, sampler: Any, path_of: Callable[[Any], PathLike], mountpoint: PathLike,
                 plan_ahead: int = 0, on_error: str = "raise"):
        super().__init__(None)
        if plan_ahead not in (0, 1):
            raise ValueError(f"plan_ahead must be 0 or 1, not {plan_ahead!r}")
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', not {on_error!r}")
        self.sampler = sampler
        self.path_of = path_of
        self.mountpoint = os.fspath(mountpoint)
        self.plan_ahead = plan_ahead
        self.on_error = on_error
        self._epoch: Optional[int] = None  # the last set_epoch(), for samplers without .epoch
        # (epoch it was drawn for, order): drawn and published one epoch early (plan_ahead=1).
        self._ahead: Optional[Tuple[Optional[int], List[Any]]] = None
        self._skip = 0  # resume(): indices of the next epoch already consumed

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self._skip)

    def resume(self, consumed: int) -> None:
        """The next iter() resumes its epoch after the first `consumed` indices of its order
        (a job restarted from a checkpoint taken mid-epoch): only the rest is published, so
        the daemon plans exactly what will be read, and yielded. For the rest to be the
        interrupted epoch's, the wrapped sampler must draw the same order again: a
        RandomSampler with its own seeded generator, a DistributedSampler after set_epoch().
        Applies to one iter(); 0 cancels it."""
        if isinstance(consumed, bool) or not isinstance(consumed, int) or consumed < 0:
            raise ValueError(f"consumed must be an int >= 0, not {consumed!r}")
        self._skip = consumed

    def set_epoch(self, epoch: int) -> None:
        """Records the epoch and forwards it to the wrapped sampler if it has set_epoch()."""
        self._epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        # A generator: the order is drawn at the first next(), exactly when the wrapped
        # sampler would draw it, so with plan_ahead=0 the RNG is used as without the wrapper.
        epoch = self._current_epoch()
        order = None
        published = False  # order's plan is with the daemon already (drawn ahead)
        if self._ahead is not None:
            ahead_epoch, ahead_order = self._ahead
            self._ahead = None
            if ahead_epoch == epoch:
                order = ahead_order
                published = True
            else:
                warnings.warn(
                    f"epochfs: the order drawn ahead for epoch {ahead_epoch} is unused: this "
                    f"epoch is {epoch} (call set_epoch(e) with e = 0, 1, 2... before each "
                    f"epoch); its plan was already published, publishing this epoch's now",
                    PlanWarning, stacklevel=2)
        if order is None:
            order = list(self.sampler)
        skip, self._skip = self._skip, 0
        if skip > len(order):
            raise ValueError(f"resume({skip}): this epoch's order has only {len(order)} indices")
        if skip and published:
            warnings.warn(
                f"epochfs: resuming after {skip} indices of an order whose plan was published "
                f"whole ahead of time; publishing the rest again (the daemon drops what goes "
                f"unread of the first)", PlanWarning, stacklevel=2)
            published = False
        order = order[skip:]
        if not published:
            self._publish(order, resume=skip > 0)
        if self.plan_ahead:
            self._ahead = self._draw_next(epoch)
            self._publish(self._ahead[1])
        yield from order

    def _current_epoch(self) -> Optional[int]:
        # The epoch that the wrapped sampler's order depends on: None for a sampler without
        # set_epoch() (RandomSampler: its order is just the next draw, whatever the epoch).
        # DistributedSampler keeps its epoch in .epoch, also when set_epoch() is called on it
        # directly rather than through this wrapper.
        if not hasattr(self.sampler, "set_epoch"):
            return None
        epoch = getattr(self.sampler, "epoch", None)
        return epoch if isinstance(epoch, int) else self._epoch

    def _draw_next(self, epoch: Optional[int]) -> Tuple[Optional[int], List[Any]]:
        if epoch is None:
            return None, list(self.sampler)
        self.sampler.set_epoch(epoch + 1)
        try:
            return epoch + 1, list(self.sampler)
        finally:
            self.sampler.set_epoch(epoch)

    def _publish(self, order: List[Any], resume: bool = False) -> None:
        def paths():
            for index in order:
                try:
                    path = self.path_of(index)
                except Exception as e:
                    raise _PathOfFailed() from e
                if isinstance(path, list):  # the records of one sample (h5py_records)
                    yield from path
                else:
                    yield path

        try:
            publish_plan(self.mountpoint, paths(), resume=resume)
        except _PathOfFailed as e:
            raise e.__cause__ from None  # the caller's own exception, with its traceback
        except (OSError, ValueError, TypeError) as e:
            if self.on_error == "raise":
                raise
            warnings.warn(f"epochfs: plan not published, reading without one: {e}",
                          PlanWarning, stacklevel=3)
