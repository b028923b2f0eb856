// bench/micro/IntegrityBench.cc: what checking an S3 answer costs (docs/benchmarks.md,
// "Integrity checks"): each digest over a 110 KB body (an ImageNet-sized sample) and a 4 MiB
// block, in bytes per second of one core. CPU per GB = 1 / throughput.
//
//   build-release/bench/micro/integrity_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "origin/s3/Integrity.h"

namespace {

using epochfs::origin::s3::DigestKind;

void BM_Digest(benchmark::State& state, DigestKind kind) {
  const size_t size = static_cast<size_t>(state.range(0));
  std::vector<std::byte> data(size);
  std::mt19937_64 rng(42);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  for (auto _ : state) {
    benchmark::DoNotOptimize(epochfs::origin::s3::computeDigest(kind, data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

#define DIGEST_BENCH(name, kind) \
  BENCHMARK_CAPTURE(BM_Digest, name, kind)->Arg(110 * 1000)->Arg(4 << 20)

DIGEST_BENCH(md5_etag, DigestKind::kMd5Etag);
DIGEST_BENCH(crc32, DigestKind::kCrc32);
DIGEST_BENCH(crc32c, DigestKind::kCrc32c);
DIGEST_BENCH(crc64nvme, DigestKind::kCrc64Nvme);
DIGEST_BENCH(sha1, DigestKind::kSha1);
DIGEST_BENCH(sha256, DigestKind::kSha256);

}  // namespace

BENCHMARK_MAIN();
