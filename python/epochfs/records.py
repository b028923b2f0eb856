"""Plans of records inside large files: where each sample of an h5py dataset lies in its file.

A dataset stored as records inside one large file (HDF5, LMDB, a .npy) is read at random
offsets. A plan that names those records' byte ranges lets the daemon prefetch exactly them,
in order, in blocks of about a record (docs/policies.md, "Records inside large files"):

    import h5py, epochfs
    from torch.utils.data import DataLoader, RandomSampler

    f = h5py.File("/mnt/data/train.h5", "r", rdcc_nbytes=0)
    images = f["images"]                         # shape (N, ...): one sample per row
    records = epochfs.h5py_records(images)       # sample i -> the records holding its row
    sampler = epochfs.PlanSampler(RandomSampler(range(len(images))), records, "/mnt/data")

A row is held by the chunks its index falls in (all of them along the other axes), or by its
bytes of a contiguous dataset; a chunk holding several rows is named whole for each of them
(a compressed chunk is read whole). The table is read from the file once, when made: one
entry per chunk. Raises ValueError for a dataset whose rows have no place in the file (compact
or virtual datasets, external storage, chunks not written yet).
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from .plan import Record


class H5Records:
    """Callable: sample index -> list of Record (path, offset, length) of the row's bytes."""

    def __init__(self, dataset: Any, path: Any = None):
        if dataset.ndim == 0:
            raise ValueError(f"{dataset.name}: a scalar dataset has no rows")
        self.path = path if path is not None else dataset.file.filename
        self.rows = dataset.shape[0]
        dsid = dataset.id
        if dataset.chunks is None:
            offset = dsid.get_offset()
            if offset is None:
                raise ValueError(f"{dataset.name} in {self.path}: not stored in the file as one "
                                 f"range (compact, virtual, external or not written yet)")
            self._offset = offset
            self._row_bytes = dataset.dtype.itemsize
            for n in dataset.shape[1:]:
                self._row_bytes *= n
            self._chunk_rows = 0
            self._chunks: Dict[int, List[Record]] = {}
            return
        self._chunk_rows = dataset.chunks[0]
        self._chunks = {}
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            if info.byte_offset is None:
                continue
            first = info.chunk_offset[0]
            self._chunks.setdefault(first, []).append(
                (info.chunk_offset, Record(self.path, info.byte_offset, info.size)))
        for first, held in self._chunks.items():
            held.sort(key=lambda e: e[0])  # along the other axes, in the order they are read
            self._chunks[first] = [r for _, r in held]

    def __call__(self, index: int) -> List[Record]:
        if isinstance(index, bool) or not 0 <= index < self.rows:
            raise IndexError(f"row {index!r} of {self.rows}")
        if self._chunk_rows == 0:
            return [Record(self.path, self._offset + index * self._row_bytes, self._row_bytes)]
        first = index - index % self._chunk_rows
        held = self._chunks.get(first)
        if not held:
            raise ValueError(f"row {index} of {self.path}: its chunk is not written (a fill "
                             f"value has no place in the file to plan)")
        return list(held)

    def __len__(self) -> int:
        return self.rows

    def __reduce__(self) -> Tuple[Any, ...]:  # picklable without h5py objects
        state = (self.path, self.rows, self._chunk_rows, self._chunks,
                 getattr(self, "_offset", 0), getattr(self, "_row_bytes", 0))
        return (_restore, state)


def _restore(path, rows, chunk_rows, chunks, offset, row_bytes) -> H5Records:
    r = H5Records.__new__(H5Records)
    r.path, r.rows, r._chunk_rows, r._chunks = path, rows, chunk_rows, chunks
    r._offset, r._row_bytes = offset, row_bytes
    return r


def h5py_records(dataset: Any, path: Any = None) -> H5Records:
    """The records of each row of `dataset` (an h5py.Dataset, opened through the mount):
    index -> [Record(path, offset, length), ...], for PlanSampler's path_of or publish_plan.
    `path`: the file's path as the plan should name it (default: the file's own name)."""
    return H5Records(dataset, path)
