#include "fs/Passthrough.h"

#include <unistd.h>

#include <variant>

#include <spdlog/spdlog.h>

namespace epochfs::fs {

Passthrough::~Passthrough() {
  // Opens still outstanding when the mount goes: the connection's end frees the kernel side.
  for (auto& [ino, node] : inodes_) {
    if (node.passOpens > 0) cache_.releaseWhole(node.pin);
  }
}

Passthrough::Grant Passthrough::openIdle(const cache::FileRef& file, uint64_t& pin) {
  auto whole = cache_.openWhole(file);
  auto* got = std::get_if<cache::BlockCache::WholeFile>(&whole);
  if (got == nullptr) return {};
  Result<int> id = kernel_.open(got->fd);
  ::close(got->fd);
  if (!id.isOk()) {
    spdlog::warn("passthrough of '{}' refused by the kernel ({}); it is read through FUSE",
                 file.key, id.status().toString());
    cache_.releaseWhole(got->pin);
    std::lock_guard<std::mutex> g(mu_);
    stats_.backingFailures++;
    return {};
  }
  pin = got->pin;
  return {IoMode::kPassthrough, *id};
}

Passthrough::Grant Passthrough::open(uint64_t ino, const cache::FileRef& file) {
  std::unique_lock<std::mutex> g(mu_);
  Inode* node = &inodes_[ino];
  opened_.wait(g, [&] {
    node = &inodes_[ino];  // a release may have erased it meanwhile
    return !node->opening;
  });
  if (node->passOpens > 0) {
    if (node->etag == file.etag) {
      node->passOpens++;
      stats_.opens++;
      return {IoMode::kPassthrough, node->backingId};
    }
    stats_.directOpens++;
    return {IoMode::kDirect, 0};
  }
  if (node->cachedOpens > 0) {
    node->cachedOpens++;
    stats_.cachedOpens++;
    return {};
  }
  node->opening = true;
  g.unlock();
  uint64_t pin = 0;
  const Grant grant = openIdle(file, pin);
  g.lock();
  node = &inodes_[ino];
  node->opening = false;
  if (grant.mode == IoMode::kPassthrough) {
    node->passOpens = 1;
    node->backingId = grant.backingId;
    node->pin = pin;
    node->etag = file.etag;
    stats_.opens++;
    stats_.backingFiles++;
  } else {
    node->cachedOpens = 1;
    stats_.cachedOpens++;
  }
  opened_.notify_all();
  return grant;
}

void Passthrough::release(uint64_t ino, IoMode mode) {
  if (mode == IoMode::kDirect) return;  // never counted: it holds no mode
  int closeId = 0;
  uint64_t pin = 0;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) {
      spdlog::debug("passthrough: release of ino {} without an open", ino);
      return;
    }
    Inode& node = it->second;
    if (mode == IoMode::kPassthrough && node.passOpens > 0 && --node.passOpens == 0) {
      closeId = node.backingId;
      pin = node.pin;
      node.backingId = 0;
      node.pin = 0;
      node.etag.clear();
      stats_.backingFiles--;
    } else if (mode == IoMode::kCached && node.cachedOpens > 0) {
      node.cachedOpens--;
    }
    dropIfIdleLocked(ino);
  }
  if (closeId > 0) {
    kernel_.close(closeId);
    cache_.releaseWhole(pin);
  }
}

void Passthrough::dropIfIdleLocked(uint64_t ino) {
  auto it = inodes_.find(ino);
  if (it != inodes_.end() && it->second.cachedOpens == 0 && it->second.passOpens == 0 &&
      !it->second.opening) {
    inodes_.erase(it);
  }
}

PassthroughStats Passthrough::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

}  // namespace epochfs::fs
