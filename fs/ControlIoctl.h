// fs/ControlIoctl.h: the ioctl commands on the control files of `.epochfs/`: the ABI between
// the daemon and its clients (the `epochfs` CLI, python/epochfs/_control.py).
//
// The mount is read-only (`ro` in /proc/mounts), so the kernel refuses every open for writing
// before the daemon sees it. Control requests that change the daemon's state are therefore
// ioctls on a control file opened O_RDONLY. FUSE allows only "restricted" ioctls on regular
// files: the kernel copies exactly _IOC_SIZE(cmd) bytes in (_IOW) and/or out (_IOR), at most
// 16383, so every argument is one fixed-size struct with explicit padding (the same layout
// for 32- and 64-bit callers) and a plan travels in chunks of at most kPlanChunkBytes.
//
// On `.epochfs/plan` (per open file handle):
//   kIocPlanAppend  adds PlanChunk::data[0, length) to the handle's plan (chunks may split a
//                   line anywhere; length 0 is fine). PlanChunk::flags: kPlanResumes on any
//                   chunk makes the plan the rest of the reader's current epoch (a job
//                   resumed mid-epoch: Policy::resumePlan) instead of the next epoch's order.
//                   EINVAL: a malformed line, length > kPlanChunkBytes, unknown flags, or the
//                   plan grew past kMaxPlanBytes; the plan is then broken until aborted.
//   kIocPlanCommit  publishes the plan (one epoch's order) and replies with PlanResult; the
//                   handle starts an empty plan. EINVAL: the plan was malformed (counted in
//                   plans.rejected, nothing published).
//   kIocPlanAbort   discards the handle's plan. Closing the handle without a commit does too.
// On `.epochfs/refresh`:
//   kIocRefresh     re-lists the origin and returns when the new listing is in place, or
//                   fails with the error (EIO: see the daemon's log).
// On either:
//   kIocLastError   the reason the last failed command on this handle failed ("" if none).
// Any other command, or a command on another file, fails with ENOTTY.
//
// Each command number embeds its struct's size; the literals below are checked against the
// kernel's macros here and mirrored in python/epochfs/_control.py (a test compares them).
#pragma once

#include <linux/ioctl.h>

#include <cstddef>
#include <cstdint>

namespace epochfs::fs {

inline constexpr unsigned kControlIoctlType = 0xEF;

// Plan text per kIocPlanAppend: the struct is 16376 bytes, under the 16383 of _IOC_SIZE.
inline constexpr size_t kPlanChunkBytes = 16368;

// PlanChunk::flags.
inline constexpr uint32_t kPlanResumes = 1;
struct PlanChunk {
  uint32_t length = 0;  // bytes of data in use
  uint32_t flags = 0;   // kPlanResumes, or 0 (daemons before it ignored this field)
  char data[kPlanChunkBytes];
};

struct PlanResult {
  uint64_t paths = 0;         // paths in the plan
  uint64_t unknownPaths = 0;  // skipped: not found, or not a file
  uint64_t files = 0;         // files handed to the cache
  uint64_t blocks = 0;        // their blocks the policy planned (0 if it ignores plans)
  uint32_t ignored = 0;       // 1: the policy does not use plans (lru, fixed)
  uint32_t reserved = 0;
};

inline constexpr size_t kControlErrorBytes = 1024;

struct ControlError {
  char message[kControlErrorBytes];  // NUL-terminated, truncated if longer
};

static_assert(sizeof(PlanChunk) == 16376 && sizeof(PlanChunk) <= _IOC_SIZEMASK);
static_assert(sizeof(PlanResult) == 40 && sizeof(ControlError) == 1024);

inline constexpr uint32_t kIocPlanAppend = 0x7FF8EF01;
inline constexpr uint32_t kIocPlanCommit = 0x8028EF02;
inline constexpr uint32_t kIocPlanAbort = 0x0000EF03;
inline constexpr uint32_t kIocLastError = 0x8400EF04;
inline constexpr uint32_t kIocRefresh = 0x0000EF05;

static_assert(kIocPlanAppend == _IOW(kControlIoctlType, 1, PlanChunk));
static_assert(kIocPlanCommit == _IOR(kControlIoctlType, 2, PlanResult));
static_assert(kIocPlanAbort == _IO(kControlIoctlType, 3));
static_assert(kIocLastError == _IOR(kControlIoctlType, 4, ControlError));
static_assert(kIocRefresh == _IO(kControlIoctlType, 5));

}  // namespace epochfs::fs
