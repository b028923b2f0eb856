#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run):
#   1. installs the Debian packages it needs (scripts/install-deps.sh);
#   2. a RelWithDebInfo build (the project's default, -O2 -g) with warnings as errors, then
#      every test: unit + integration (real FUSE mounts; needs root and /dev/fuse), `ctest -j2`
#      (not Release: GCC 12's -O3 raises false -Wrestrict warnings inside libstdc++);
#   3. an ASan+UBSan build, then the unit tests under it;
#   4. the cache's and the S3 client's unit tests under ThreadSanitizer;
#   5. the libFuzzer targets (scripts/fuzz.sh), a short run of each from its corpus.
# Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/install-deps.sh

echo "== RelWithDebInfo build (-Werror)"
build=$(scripts/build.sh RelWithDebInfo --werror)
status=0
echo "== Unit and integration tests"
# The S3 tests start a real Ceph RGW (test/rgw/rgw.sh); in CI one that cannot start fails them.
export EPOCHFS_REQUIRE_RGW=1
(cd "$build" && ctest -j2 --output-on-failure) || status=1

echo "== ASan+UBSan build"
asan=$(scripts/build.sh Debug --sanitize)
echo "== Unit tests under ASan+UBSan"
(cd "$asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -L unit -j2 --output-on-failure) || status=1

# The concurrency unit tests (the cache: single-flight, prefetchers, eviction; the S3 client:
# the connection pool, retries) under ThreadSanitizer: a data race fails the run.
echo "== ThreadSanitizer build (cache and origin unit tests)"
tsan=$(scripts/build.sh RelWithDebInfo --tsan --target cache_tests --target origin_tests)
echo "== cache and origin unit tests under ThreadSanitizer"
for t in cache/cache_tests origin/origin_tests; do
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "$tsan/$t" --gtest_brief=1 || status=1
done

echo "== Fuzz targets (test/fuzz/: each parser of outside input, 10 s each, clang + ASan + UBSan)"
scripts/fuzz.sh --seconds 10 || status=1

# A test that leaked a mount would break the next run: say so, loudly.
leaked=$(awk -v r="$root/" '$3 ~ /^fuse/ && index($2, r) == 1 {print $2}' /proc/mounts)
if [[ -n "$leaked" ]]; then
  echo "test.sh: FUSE mounts left behind under $root:" >&2
  echo "$leaked" >&2
  status=1
fi

if ((status == 0)); then echo "test.sh: all tests passed"; else echo "test.sh: FAILED" >&2; fi
exit $status
