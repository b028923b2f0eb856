#!/usr/bin/python3
"""Alternating benchmark: several uringproto daemons (classic / io_uring,
passthrough or not) are mounted side by side plus the plain backing dir;
each round runs one epoch on every target, in a rotating order, with
`echo DROP > /proc/sys/vm/drop_caches` before every epoch.

usage: bench.py OUT.json DROP[,DROP..] ROUNDS [config-names...]
"""
import glob
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402

# Where the binaries (built here, see README.md), the backing files and the mounts live.
BASE = os.environ.get('URING_PROTO_DIR', '/var/tmp/uring-proto')
DATA = f'{BASE}/data'
BIN = f'{BASE}/uringproto'
N = 4000
CLIENT = os.environ.get('CLIENT', 'py')
SIZE = 110000

CONFIGS = {
    # passthrough (epochfs-like): OPEN replies FOPEN_PASSTHROUGH + backing id
    'pt-classic1': ['-t', 'classic', '-T', '1', '-p', DATA],
    'pt-classic2': ['-t', 'classic', '-T', '2', '-p', DATA],
    'pt-classic4': ['-t', 'classic', '-T', '4', '-p', DATA],
    'pt-classic2c': ['-t', 'classic', '-T', '2', '-c', '-p', DATA],
    'pt-uring': ['-t', 'uring', '-p', DATA],
    'pt-uring-nopin': ['-t', 'uring', '-P', '-p', DATA],
    'pt-uring-nodefer': ['-t', 'uring', '-k', '-p', DATA],
    # read-only mount (like epochfs' "-o ro"): no GETATTR after passthrough reads
    'ro-classic1': ['-r', '-t', 'classic', '-T', '1', '-p', DATA],
    'ro-classic2': ['-r', '-t', 'classic', '-T', '2', '-p', DATA],
    'ro-classic4': ['-r', '-t', 'classic', '-T', '4', '-p', DATA],
    'ro-uring': ['-r', '-t', 'uring', '-p', DATA],
    # no passthrough: READ served by the daemon, FOPEN_KEEP_CACHE
    'np-classic2': ['-t', 'classic', '-T', '2'],
    'np-uring': ['-t', 'uring'],
    'local': None,
}
OPNAMES = {1: 'LOOKUP', 2: 'FORGET', 3: 'GETATTR', 14: 'OPEN', 15: 'READ',
           18: 'RELEASE', 25: 'FLUSH', 39: 'IOCTL', 42: 'BATCH_FORGET'}


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=False, capture_output=True, text=True)


def drop(mode):
    if mode:
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write(str(mode))


def proc_cpu_ns(pid):
    tot = 0
    csw = 0
    for t in glob.glob(f'/proc/{pid}/task/*'):
        try:
            tot += int(open(f'{t}/schedstat').read().split()[0])
            for line in open(f'{t}/status'):
                if line.startswith(('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches')):
                    csw += int(line.split()[1])
        except OSError:
            pass
    return tot, csw


def sys_busy():
    v = [int(x) for x in open('/proc/stat').readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, v[7]  # busy jiffies, steal


def shm_ops(name):
    try:
        d = open(f'/dev/shm/{name}', 'rb').read()
    except OSError:
        return {}
    v = struct.unpack('70Q', d[:560])
    ops = {OPNAMES.get(i, str(i)): v[i] for i in range(64) if v[i]}
    ops['_ring'] = v[64]
    ops['_dev'] = v[65]
    ops['_backing_opens'] = v[66]
    ops['_forget_nlookup'] = v[67]
    return ops


class Daemon:
    def __init__(self, name, args):
        self.name = name
        self.mnt = f'{BASE}/mnt/{name}'
        os.makedirs(self.mnt, exist_ok=True)
        self.shm = f'up_{name}'
        self.log = open(f'{BASE}/logs/{name}.log', 'a')
        self.p = subprocess.Popen([BIN, '-n', str(N), '-s', str(SIZE), '-S', self.shm] + args + [self.mnt],
                                  stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.ismount(self.mnt) and os.listdir(self.mnt):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f'{name} did not come up')
        self.pid = self.p.pid

    def stop(self):
        sh(f'umount {self.mnt}')
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sh(f'umount -l {self.mnt}')
            self.p.kill()
            self.p.wait()


def main():
    out = sys.argv[1]
    drops = [int(x) for x in sys.argv[2].split(',')]
    rounds = int(sys.argv[3])
    names = sys.argv[4:] or ['pt-classic1', 'pt-classic2', 'pt-classic4', 'pt-uring', 'local']
    os.makedirs(f'{BASE}/logs', exist_ok=True)
    results = {'names': names, 'client': CLIENT, 'phases': {}}
    for dm in drops:
        daemons = {n: Daemon(n, CONFIGS[n]) for n in names if CONFIGS[n] is not None}
        roots = {n: (daemons[n].mnt if n in daemons else DATA) for n in names}
        try:
            # warm-up epoch per target (backing ids, first lookups), not timed
            drop(3)
            time.sleep(1)
            for n in names:
                order = list(range(N)); random.shuffle(order)
                client.run_epoch(roots[n], order)
            if dm == 3:  # flush the warm-up's forgets out of the totals window
                drop(3)
            time.sleep(1)
            start = {n: proc_cpu_ns(d.pid) for n, d in daemons.items()}
            start_ops = {n: shm_ops(d.shm) for n, d in daemons.items()}
            recs = []
            for r in range(rounds):
                k = r % len(names)
                for n in names[k:] + names[:k]:
                    order = list(range(N)); random.shuffle(order)
                    drop(dm)
                    time.sleep(0.5)
                    pid = daemons[n].pid if n in daemons else None
                    c0 = proc_cpu_ns(pid) if pid else (0, 0)
                    o0 = shm_ops(daemons[n].shm) if pid else {}
                    b0, s0 = sys_busy()
                    if CLIENT == 'c':
                        o = subprocess.run([f'{BASE}/cclient', roots[n], str(N), str(SIZE), '8',
                                            str(random.randrange(1 << 30))], capture_output=True, text=True).stdout.split()
                        dt, bad = float(o[0]), int(o[1])
                    else:
                        dt, bad = client.run_epoch(roots[n], order)
                    b1, s1 = sys_busy()
                    c1 = proc_cpu_ns(pid) if pid else (0, 0)
                    o1 = shm_ops(daemons[n].shm) if pid else {}
                    rec = {'round': r, 'name': n, 'drop': dm, 'secs': dt, 'fps': N / dt, 'bad': bad,
                           'daemon_us_per_file': (c1[0] - c0[0]) / 1e3 / N,
                           'daemon_csw_per_file': (c1[1] - c0[1]) / N,
                           'sys_busy_us_per_file': (b1 - b0) * 1e4 / N,
                           'steal_jiffies': s1 - s0,
                           'ops_per_file': {k2: round((o1.get(k2, 0) - o0.get(k2, 0)) / N, 3)
                                            for k2 in o1 if not k2.startswith('_b') and o1.get(k2, 0) != o0.get(k2, 0)}}
                    recs.append(rec)
                    print(json.dumps({k2: (round(v, 2) if isinstance(v, float) else v) for k2, v in rec.items()}),
                          flush=True)
                    if bad:
                        print(f'!!! {n}: {bad} files with wrong content', flush=True)
            # flush the forgets of the last epoch, then phase totals
            if dm == 3:
                drop(3)
            time.sleep(1.5)
            totals = {}
            for n, d in daemons.items():
                c1 = proc_cpu_ns(d.pid)
                o1 = shm_ops(d.shm)
                totals[n] = {'daemon_us_per_file_incl_forget': (c1[0] - start[n][0]) / 1e3 / (N * rounds),
                             'daemon_csw_per_file_incl_forget': (c1[1] - start[n][1]) / (N * rounds),
                             'ops_per_file': {k2: round((o1.get(k2, 0) - start_ops[n].get(k2, 0)) / (N * rounds), 3)
                                              for k2 in o1 if o1[k2] != start_ops[n].get(k2, 0)}}
            results['phases'][str(dm)] = {'records': recs, 'totals': totals}
        finally:
            for d in daemons.values():
                d.stop()
    json.dump(results, open(out, 'w'), indent=1)


if __name__ == '__main__':
    main()
