"""Client side: 8 Python threads open(path,'rb') / read() / close() every file
once per epoch in a shuffled order, and verify every byte."""
import os
import random
import threading
import time

SIZE = 110000
N = 4000
_big = None


def big(size=SIZE):
    global _big
    if _big is None or len(_big) < size + 256:
        _big = bytes(((k * 7 + (k >> 9)) & 0xFF) for k in range(size + 256))
    return _big


def expected(i, size=SIZE):
    b = big(size)
    o = i % 251
    return (i & 0xFFFFFFFF).to_bytes(4, 'little') + b[o:o + size - 4]


def run_epoch(root, order, nthreads=8, size=SIZE, verify=True):
    """Returns (seconds, nbad)."""
    big(size)
    it = iter(order)
    lock = threading.Lock()
    bad = [0]
    errs = []

    def worker():
        nb = 0
        try:
            for i in it:  # list iterator: next() is atomic under the GIL
                with open(f'{root}/f{i:05d}', 'rb') as f:
                    data = f.read()
                if verify and data != expected(i, size):
                    nb += 1
        except Exception as e:  # noqa
            errs.append(repr(e))
        with lock:
            bad[0] += nb

    ths = [threading.Thread(target=worker) for _ in range(nthreads)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    if errs:
        raise RuntimeError(errs[0])
    return dt, bad[0]


if __name__ == '__main__':
    import sys
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else N
    order = list(range(n))
    random.shuffle(order)
    dt, nbad = run_epoch(root, order)
    print(f'{root}: {n / dt:.0f} files/s, {dt:.3f}s, bad={nbad}')
