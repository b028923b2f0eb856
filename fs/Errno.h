// fs/Errno.h: the only place a Status becomes an errno.
#pragma once

#include "common/Status.h"

namespace epochfs::fs {

int toErrno(const Status& s);

}  // namespace epochfs::fs
