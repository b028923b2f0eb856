// bench/micro/CacheReadBench.cc: Google Benchmark of BlockCache's lookup-and-read path
// (docs/benchmarks.md, "Where a warm read's time goes").
//
// A real BlockCache (RocksDB index, block files in a scratch dir on local disk under
// $TMPDIR or /var/tmp) over a MemoryOrigin, with policy "lru" and "epoch" (no prefetchers):
//   Hit128K      a warm 128 KiB read at a chunk-aligned offset (the common FUSE read); with
//                threads 1, 2, 4 to show what the cache's one mutex costs under contention
//   Hit4KUnaligned  a warm 4 KiB read inside a chunk (reads and verifies the whole chunk)
//   MissFill4M   a miss of a whole 4 MiB block: origin read, checksums, block file, index
// and, to split a hit into its parts, the same work without the cache:
//   OpenPreadClose128K  open + pread 128 KiB + close of a block file (what BlockStore does)
//   Pread128K    pread 128 KiB from an open file
//   Xxh3_128K    the checksum of one chunk
//   Memcpy128K   copying 128 KiB
// Block files stay in the page cache, so "warm" is a hit with the SSD's bytes in RAM, as in
// a steady epoch on a machine with the RAM to spare. Measures; never fails on time.
//
//   build-release/bench/micro/cache_read_bench [--benchmark_filter=Hit128K]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <benchmark/benchmark.h>

#include "cache/BlockCache.h"
#include "cache/Checksum.h"
#include "config/Options.h"
#include "origin/testing/MemoryOrigin.h"
#include "policy/Policy.h"

namespace epochfs::bench {
namespace {

constexpr uint64_t kBlock = 4 * config::kMiB;
constexpr uint64_t kRead = 128 * config::kKiB;
constexpr uint64_t kWarmBlocks = 16;  // a 64 MiB file, all of it cached

std::string randomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "cache_read_bench: %s\n", what.c_str());
  std::exit(1);
}

// A scratch directory on local disk, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/var/tmp") +
                       "/epochfs-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
    path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One cache over one origin in its own scratch dir.
struct Env {
  Env(const std::string& policyName, uint64_t cacheBytes) {
    config::CacheOptions opts;
    opts.dir = dir.path() + "/cache";
    opts.sizeBytes = cacheBytes;
    opts.minFreeBytes = 0;
    opts.blockSizeBytes = kBlock;
    auto p = policy::makePolicy(policyName);
    if (!p.isOk()) die("policy " + policyName + ": " + p.status().toString());
    auto c = cache::BlockCache::open(opts, origin, std::move(*p));
    if (!c.isOk()) die("open cache: " + c.status().toString());
    cache = std::move(*c);
  }

  cache::FileRef put(const std::string& key, std::string bytes) {
    origin.put(key, std::move(bytes));
    auto info = origin.stat(key);
    if (!info.isOk()) die("stat " + key + ": " + info.status().toString());
    return cache::FileRef{key, info->etag, info->size};
  }

  void read(const cache::FileRef& f, uint64_t off, std::span<std::byte> out) {
    auto n = cache->read(f, off, out);
    if (!n.isOk() || *n != out.size()) {
      die("read " + f.key + " at " + std::to_string(off) + ": " +
          (n.isOk() ? "short" : n.status().toString()));
    }
  }

  ScratchDir dir;
  origin::MemoryOrigin origin;
  std::unique_ptr<cache::BlockCache> cache;
};

// A cache holding one warm 64 MiB file, every block read once.
struct WarmEnv : Env {
  explicit WarmEnv(const std::string& policyName) : Env(policyName, 1 * config::kGiB) {
    file = put("warm/file", randomBytes(kWarmBlocks * kBlock, 1));
    std::vector<std::byte> buf(kBlock);
    for (uint64_t b = 0; b < kWarmBlocks; ++b) read(file, b * kBlock, buf);
    if (cache->stats().blocks != kWarmBlocks) die("warm-up did not cache every block");
  }
  cache::FileRef file;
};

// Built on first use (outside the timed loop), destroyed by main() before exit: RocksDB
// must close before static destructors run.
std::mutex envMu;
std::map<std::string, std::unique_ptr<WarmEnv>> warmEnvs;  // guarded by envMu

WarmEnv* warmEnv(const std::string& policyName) {
  std::lock_guard<std::mutex> g(envMu);
  auto& e = warmEnvs[policyName];
  if (!e) e = std::make_unique<WarmEnv>(policyName);
  return e.get();
}

void setCounters(benchmark::State& state, const Env& env, uint64_t hitsBefore) {
  if (state.thread_index() != 0) return;
  cache::CacheStats s = env.cache->stats();
  state.counters["hit_ratio"] = benchmark::Counter(
      static_cast<double>(s.hits - hitsBefore) /
      static_cast<double>(std::max<uint64_t>(1, state.iterations() * state.threads())));
}

// A 128 KiB read at a chunk-aligned offset; each thread walks its own sequence of offsets
// over the file so threads rarely touch the same block at once.
void hit128K(benchmark::State& state, const std::string& policyName) {
  WarmEnv& env = *warmEnv(policyName);
  const uint64_t hitsBefore = env.cache->stats().hits;
  std::vector<std::byte> buf(kRead);
  const uint64_t chunks = kWarmBlocks * kBlock / kRead;
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * (chunks / 4 + 7);
  for (auto _ : state) {
    env.read(env.file, (i++ % chunks) * kRead, buf);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRead));
  setCounters(state, env, hitsBefore);
}

// A 4 KiB read starting 1000 bytes into a chunk: the whole 128 KiB chunk is read and
// verified, then 4 KiB copied out.
void hit4KUnaligned(benchmark::State& state, const std::string& policyName) {
  WarmEnv& env = *warmEnv(policyName);
  const uint64_t hitsBefore = env.cache->stats().hits;
  std::vector<std::byte> buf(4096);
  const uint64_t chunks = kWarmBlocks * kBlock / kRead;
  uint64_t i = 0;
  for (auto _ : state) {
    env.read(env.file, (i++ % chunks) * kRead + 1000, buf);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
  setCounters(state, env, hitsBefore);
}

// A miss of one whole 4 MiB block of a new file: the origin read (a memcpy from the
// MemoryOrigin), the policy's admission, the block file write (into the page cache, no
// fsync), the checksums and the RocksDB put. The cache is 256 MiB, so once full every fill
// also evicts one block. Putting the file into the origin is not timed.
void missFill4M(benchmark::State& state, const std::string& policyName) {
  Env env(policyName, 256 * config::kMiB);
  const std::string bytes = randomBytes(kBlock, 2);
  std::vector<std::byte> buf(kRead);
  uint64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string key = "miss/" + std::to_string(n++);
    cache::FileRef f = env.put(key, bytes);
    state.ResumeTiming();
    env.read(f, 0, buf);  // fetches, serves and fills the whole block
    state.PauseTiming();
    env.origin.remove(key);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBlock));
  cache::CacheStats s = env.cache->stats();
  state.counters["cached"] = static_cast<double>(s.blocks);
  state.counters["not_admitted"] = static_cast<double>(s.notAdmitted);
}

// --- The parts of a hit, without the cache ---

struct RawFile {
  RawFile() {
    path = dir.path() + "/block";
    const std::string bytes = randomBytes(kBlock, 3);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      die("write " + path);
    }
    ::close(fd);
  }
  ScratchDir dir;
  std::string path;
};

std::unique_ptr<RawFile> raw;  // guarded by envMu

RawFile& rawFile() {
  std::lock_guard<std::mutex> g(envMu);
  if (!raw) raw = std::make_unique<RawFile>();
  return *raw;
}

void preadFully(int fd, std::byte* out, size_t len, off_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out + done, len - done, off + static_cast<off_t>(done));
    if (n <= 0) die("pread");
    done += static_cast<size_t>(n);
  }
}

void BM_OpenPreadClose128K(benchmark::State& state) {
  const std::string& path = rawFile().path;
  std::vector<std::byte> buf(kRead);
  uint64_t i = 0;
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    preadFully(fd, buf.data(), buf.size(), static_cast<off_t>((i++ % (kBlock / kRead)) * kRead));
    ::close(fd);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRead));
}

void BM_Pread128K(benchmark::State& state) {
  int fd = ::open(rawFile().path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + rawFile().path);
  std::vector<std::byte> buf(kRead);
  uint64_t i = 0;
  for (auto _ : state) {
    preadFully(fd, buf.data(), buf.size(), static_cast<off_t>((i++ % (kBlock / kRead)) * kRead));
    benchmark::DoNotOptimize(buf.data());
  }
  ::close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRead));
}

void BM_Xxh3_128K(benchmark::State& state) {
  const std::string bytes = randomBytes(kRead, 4);
  const auto data = std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
  for (auto _ : state) benchmark::DoNotOptimize(cache::xxh3(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRead));
}

void BM_Memcpy128K(benchmark::State& state) {
  const std::string src = randomBytes(kRead, 5);
  std::vector<char> dst(kRead);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kRead);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRead));
}

}  // namespace
}  // namespace epochfs::bench

int main(int argc, char** argv) {
  using namespace epochfs::bench;
  for (const std::string policy : {"lru", "epoch"}) {
    benchmark::RegisterBenchmark(("Hit128K/" + policy).c_str(), hit128K, policy)
        ->Threads(1)
        ->Threads(2)
        ->Threads(4)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("Hit4KUnaligned/" + policy).c_str(), hit4KUnaligned, policy);
    benchmark::RegisterBenchmark(("MissFill4M/" + policy).c_str(), missFill4M, policy)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("OpenPreadClose128K", BM_OpenPreadClose128K);
  benchmark::RegisterBenchmark("Pread128K", BM_Pread128K);
  benchmark::RegisterBenchmark("Xxh3_128K", BM_Xxh3_128K);
  benchmark::RegisterBenchmark("Memcpy128K", BM_Memcpy128K);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  warmEnvs.clear();
  raw.reset();
  return 0;
}
