// fs/FuseKernel.h: the parts of the kernel's FUSE protocol (include/uapi/linux/fuse.h) that
// Debian 12's libfuse 3.14 does not speak: passthrough (protocol 7.40, Linux 6.9+).
//
// libfuse 3.14 answers INIT with protocol 7.31 and a zeroed 64-byte fuse_init_out, and its
// fuse_open_out has `padding` where 7.40 has `backing_id`; the sizes are the same, so the
// offsets below fit the replies 3.14 builds. /usr/include/linux/fuse.h (linux-libc-dev 6.1,
// 7.38) lacks these definitions too, hence our own (docs/research/passthrough.md has the
// sources). Pure data and byte patching: no I/O, no libfuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace epochfs::fs::fusek {

// Opcodes (fuse_opcode) that a read-only epochfs mount sees or may see.
inline constexpr uint32_t kLookup = 1, kForget = 2, kGetattr = 3, kOpen = 14, kRead = 15,
                          kStatfs = 17, kRelease = 18, kGetxattr = 22, kListxattr = 23,
                          kFlush = 25, kInit = 26, kOpendir = 27, kReaddir = 28,
                          kReleasedir = 29, kAccess = 34, kInterrupt = 36, kDestroy = 38,
                          kIoctl = 39, kPoll = 40, kBatchForget = 42, kReaddirplus = 44,
                          kLseek = 46, kStatx = 52;
// Opcodes are small; counters are kept for 0..kMaxOpcode-1 (larger ones count as "other").
inline constexpr uint32_t kMaxOpcode = 64;
// The lower-case name of opcode `op` ("lookup", "read", ...), or empty for one we do not name.
std::string_view opcodeName(uint32_t op);

// fuse_in_header: 40 bytes; the opcode at +4 and the request's unique id at +8.
inline constexpr size_t kInHeaderSize = 40;
// fuse_out_header: 16 bytes; the unique id at +8.
inline constexpr size_t kOutHeaderSize = 16;

// INIT flags (fuse_init_in.flags / fuse_init_out.flags, and flags2 for bits 32..63).
inline constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT: flags2 is valid
inline constexpr uint32_t kWritebackCache = 1u << 16;   // FUSE_WRITEBACK_CACHE
inline constexpr uint32_t kPassthrough2 = 1u << 5;      // FUSE_PASSTHROUGH (1ULL << 37) in flags2
// fuse_open_out.open_flags
inline constexpr uint32_t kFopenKeepCache = 1u << 1;
inline constexpr uint32_t kFopenNoflush = 1u << 5;
inline constexpr uint32_t kFopenPassthrough = 1u << 7;

// The largest max_stack_depth the kernel accepts (FILESYSTEM_MAX_STACK_DEPTH).
inline constexpr uint32_t kMaxStackDepth = 2;

// What the kernel offers in its INIT request (the fuse_init_in after the header).
struct InitOffer {
  uint32_t major = 0;
  uint32_t minor = 0;
  bool passthrough = false;  // FUSE_INIT_EXT with FUSE_PASSTHROUGH in flags2
};
// Parses a whole request (header included) if it is an INIT; nullopt otherwise.
std::optional<InitOffer> parseInit(std::span<const std::byte> request);
// The unique id of a request (header included); 0 if it is too short.
uint64_t requestUnique(std::span<const std::byte> request);
// The opcode of a request (header included); 0 if it is too short.
uint32_t requestOpcode(std::span<const std::byte> request);

// Turns passthrough on in libfuse's INIT reply body (fuse_init_out, the 64 bytes after the
// out header) with `stackDepth` (1..kMaxStackDepth): sets FUSE_PASSTHROUGH in flags2 and
// max_stack_depth (+36), and FUSE_INIT_EXT in flags. Refuses (false, nothing changed) a body
// shorter than 40 bytes, one that negotiates the writeback cache (the kernel would leave
// passthrough off) or a depth out of range.
bool enablePassthrough(std::span<std::byte> initOut, uint32_t stackDepth);

// fuse_open_out as of 7.40: the reply to OPEN that hands the file to backing file
// `backingId` (FUSE_DEV_IOC_BACKING_OPEN's result).
struct OpenOut {
  uint64_t fh = 0;
  uint32_t openFlags = 0;
  int32_t backingId = 0;
};
static_assert(sizeof(OpenOut) == 16);

// struct fuse_backing_map and the /dev/fuse ioctls that register and drop backing files.
struct BackingMap {
  int32_t fd = -1;
  uint32_t flags = 0;
  uint64_t padding = 0;
};
static_assert(sizeof(BackingMap) == 16);
// _IOW(229, 1, struct fuse_backing_map) and _IOW(229, 2, uint32_t).
inline constexpr unsigned long kIocBackingOpen = 0x4010e501UL;
inline constexpr unsigned long kIocBackingClose = 0x4004e502UL;

}  // namespace epochfs::fs::fusek
