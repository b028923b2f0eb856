#!/usr/bin/env bash
# Profiles warm reads through a real mount with perf (docs/benchmarks.md, "Where a warm read's
# time goes"). As root, from the repository root, after `scripts/build.sh Release`:
#
#   bench/profile_hit.sh [OUT_DIR]        # default OUT_DIR: ./profile-hit-out
#
# Mounts a local dir of $FILES files of ~$FILE_KB KB (default 2000 x 110) with a cache that
# holds all of it, reads everything once (cold), then reads everything $PASSES times (default
# 3) with $THREADS reader threads (default 8) while `perf record -g -p DAEMON_PID` runs. Every
# reader drops the kernel's page cache of a file after reading it (posix_fadvise DONTNEED), so
# each warm read reaches the daemon and is served from its cache. Writes perf-report.txt (the
# top self-time entries), perf-dso.txt, perf-stacks.txt (their call chains), readers.txt,
# stats.json and perf.data to OUT_DIR. Always unmounts and removes
# its temp dir (under $TMPDIR or /var/tmp), on failure and Ctrl-C too.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-profile-hit-out}")
bin=${EPOCHFS_BIN:-$root/build-release/cli/epochfs}
files=${FILES:-2000}
file_kb=${FILE_KB:-110}
threads=${THREADS:-8}
passes=${PASSES:-3}
[[ -x $bin ]] || { echo "profile_hit: $bin missing; run scripts/build.sh Release" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile_hit: perf missing (apt-get install linux-perf)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/epochfs-profile-XXXXXX")
mnt=$work/mnt
perf_pid=
cleanup() {
  [[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
  # /proc/mounts, not mountpoint(1): a dead daemon's mount fails stat() but must go too.
  if grep -qF " $mnt fuse" /proc/mounts; then
    "$bin" umount "$mnt" || "$bin" umount --lazy "$mnt" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mkdir -p "$out" "$work/src" "$mnt"

# Reads every file under $1 with $2 threads, $3 times; prints files, MB and MB/s per pass.
read_all() {
  /usr/bin/python3 - "$@" <<'EOF'
import os, sys, threading, time
top, nthreads, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs)
for p in range(passes):
    cursor, nbytes, lock = [0], [0], threading.Lock()
    def reader():
        got = 0
        while True:
            with lock:
                if cursor[0] >= len(paths): break
                path = paths[cursor[0]]; cursor[0] += 1
            fd = os.open(path, os.O_RDONLY)
            try:
                while chunk := os.read(fd, 1 << 20): got += len(chunk)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        with lock: nbytes[0] += got
    t0 = time.monotonic()
    ts = [threading.Thread(target=reader) for _ in range(nthreads)]
    for t in ts: t.start()
    for t in ts: t.join()
    s = time.monotonic() - t0
    print(f"pass {p + 1}: {len(paths)} files, {nbytes[0] / 1e6:.1f} MB in {s:.2f} s, "
          f"{nbytes[0] / 1e6 / s:.0f} MB/s, {len(paths) / s:.0f} files/s")
EOF
}

/usr/bin/python3 - "$work/src" "$files" "$file_kb" <<'EOF'
import os, random, sys
top, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
for i in range(n):
    d = os.path.join(top, f"class{i % 20:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"img{i:06d}.jpg"), "wb") as f:
        f.write(rng.randbytes(int(kb * 1000 * rng.uniform(0.8, 1.2))))
EOF

"$bin" mount "$work/src" "$mnt" --cache-dir "$work/cache" --cache-size 1GiB --min-free 0
pid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
      "$mnt/.epochfs/stats")
{
  echo "# cold (fills the cache)"; read_all "$mnt" "$threads" 1
  perf record -g -o "$work/perf.data" -p "$pid" 2>"$work/perf-record.log" &
  perf_pid=$!
  sleep 1
  echo "# warm, under perf record -g -p $pid"; read_all "$mnt" "$threads" "$passes"
  kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=
} | tee "$out/readers.txt"
cp "$mnt/.epochfs/stats" "$out/stats.json"
perf report -i "$work/perf.data" --no-children --stdio -g none --percent-limit 0.5 2>/dev/null \
  | grep -v '^$' >"$out/perf-report.txt" || true
perf report -i "$work/perf.data" --no-children --stdio -g none --sort dso 2>/dev/null \
  | grep -v '^$' >"$out/perf-dso.txt" || true
# The call chains of the top entries, one folded stack per line (the kernel's are complete;
# a Release epochfs has no frame pointers, so its own frames are often cut short).
perf report -i "$work/perf.data" --no-children --stdio -g folded,0.5,caller --percent-limit 2 \
  2>/dev/null | grep -v '^$' >"$out/perf-stacks.txt" || true
cp "$work/perf.data" "$out/perf.data"
echo "profile_hit: wrote $out/{readers.txt,perf-report.txt,perf-dso.txt,perf-stacks.txt,stats.json,perf.data}" >&2
