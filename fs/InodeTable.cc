#include "fs/InodeTable.h"

namespace epochfs::fs {

InodeTable::InodeTable(origin::ObjectInfo rootInfo) {
  Entry root;
  root.inode = Inode{kRootIno, "", std::move(rootInfo)};
  root.lookups = 1;  // never forgotten
  auto it = byIno_.emplace(kRootIno, std::move(root)).first;
  byKey_.emplace(it->second.inode.key, kRootIno);
}

Inode InodeTable::lookup(const std::string& key, const origin::ObjectInfo& info) {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it != byKey_.end()) {
    Entry& e = byIno_.at(it->second);
    e.inode.info = info;
    if (e.inode.ino != kRootIno) ++e.lookups;
    return e.inode;
  }
  uint64_t ino = nextIno_++;
  Entry e;
  e.inode = Inode{ino, key, info};
  e.lookups = 1;
  const Inode& node = byIno_.emplace(ino, std::move(e)).first->second.inode;
  byKey_.emplace(node.key, ino);  // a view of the key in byIno_'s node, which never moves
  return node;
}

void InodeTable::forget(uint64_t ino, uint64_t n) {
  if (ino == kRootIno) return;
  std::lock_guard lock(mu_);
  auto it = byIno_.find(ino);
  if (it == byIno_.end()) return;
  Entry& e = it->second;
  e.lookups = n >= e.lookups ? 0 : e.lookups - n;
  if (e.lookups == 0) {
    byKey_.erase(e.inode.key);
    byIno_.erase(it);
  }
}

std::optional<Inode> InodeTable::get(uint64_t ino) const {
  std::lock_guard lock(mu_);
  auto it = byIno_.find(ino);
  if (it == byIno_.end()) return std::nullopt;
  return it->second.inode;
}

void InodeTable::update(uint64_t ino, const origin::ObjectInfo& info) {
  std::lock_guard lock(mu_);
  auto it = byIno_.find(ino);
  if (it != byIno_.end()) it->second.inode.info = info;
}

std::optional<uint64_t> InodeTable::inoOf(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = byKey_.find(key);
  if (it == byKey_.end()) return std::nullopt;
  return it->second;
}

std::vector<Inode> InodeTable::all() const {
  std::lock_guard lock(mu_);
  std::vector<Inode> out;
  out.reserve(byIno_.size());
  for (const auto& [ino, e] : byIno_) out.push_back(e.inode);
  return out;
}

size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return byIno_.size();
}

}  // namespace epochfs::fs
