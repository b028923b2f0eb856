// cache/tests/FaultyBlockStore.h: a BlockStore whose writes fail while the test says so, as
// they do on a cache filesystem out of inodes, an immutable tmp/ or a vanished directory.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "cache/BlockStore.h"

namespace epochfs::cache::testing {

class FaultyBlockStore final : public BlockStore {
 public:
  // Opens the real store on `dir` (which prepares it) and returns the faulty one on it.
  static Result<std::unique_ptr<BlockStore>> open(const std::string& dir,
                                                  std::shared_ptr<std::atomic<bool>> failWrites,
                                                  std::shared_ptr<std::atomic<uint64_t>> writes) {
    Result<std::unique_ptr<BlockStore>> real = BlockStore::open(dir);
    if (!real.isOk()) return real.status();
    return std::unique_ptr<BlockStore>(
        new FaultyBlockStore(dir, (*real)->punchesHoles(), (*real)->linksTmpfiles(),
                             std::move(failWrites), std::move(writes)));
  }

  Status write(BlockFileId id, std::span<const std::byte> bytes) override {
    (*writes_)++;
    if (failWrites_->load()) {
      return errnoStatus(ENOSPC, "create " + blockPath(id) + " (no free inodes)");
    }
    return BlockStore::write(id, bytes);
  }

  Status writeAt(BlockFileId id, uint64_t offset, std::span<const std::byte> bytes) override {
    (*writes_)++;
    if (failWrites_->load()) {
      return errnoStatus(ENOSPC, "write " + blockPath(id) + " (no free blocks)");
    }
    return BlockStore::writeAt(id, offset, bytes);
  }

 private:
  FaultyBlockStore(const std::string& dir, bool punchesHoles, bool linksTmpfiles,
                   std::shared_ptr<std::atomic<bool>> failWrites,
                   std::shared_ptr<std::atomic<uint64_t>> writes)
      : BlockStore(dir, punchesHoles, linksTmpfiles),
        failWrites_(std::move(failWrites)),
        writes_(std::move(writes)) {}

  std::shared_ptr<std::atomic<bool>> failWrites_;
  std::shared_ptr<std::atomic<uint64_t>> writes_;
};

}  // namespace epochfs::cache::testing
