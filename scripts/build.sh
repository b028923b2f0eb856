#!/usr/bin/env bash
# Configures and builds epochfs; prints the build directory (alone, on stdout) when done.
#
#   scripts/build.sh [Release|Debug|RelWithDebInfo] [--sanitize|--tsan] [--werror] [--target T]...
#                    [-- CMAKE_ARGS...]
#
# Build dirs: build-release, build-debug, build-relwithdebinfo, with "-asan" appended for
# --sanitize (ASan + UBSan), "-tsan" for --tsan (ThreadSanitizer) and "-werror" for --werror
# (warnings as errors), so switching never rebuilds everything. --target builds only that
# target (repeatable; default: everything). $EPOCHFS_BUILD_DIR overrides the directory. Build output goes to
# stderr, so `dir=$(scripts/build.sh Release)` works.
set -euo pipefail
exec 3>&1 1>&2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
type=Release
sanitize=OFF
tsan=OFF
werror=OFF
targets=()
extra=()
while (($#)); do
  case "$1" in
    Release|Debug|RelWithDebInfo) type=$1 ;;
    --sanitize) sanitize=ON ;;
    --tsan) tsan=ON ;;
    --target) targets+=(--target "${2:?--target needs a name}"); shift ;;
    --werror) werror=ON ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}" >&3; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

suffix=""
[[ $sanitize == ON ]] && suffix+=-asan
[[ $tsan == ON ]] && suffix+=-tsan
[[ $werror == ON ]] && suffix+=-werror
dir=${EPOCHFS_BUILD_DIR:-$root/build-${type,,}$suffix}
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S "$root" -B "$dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="$type" \
  -DEPOCHFS_SANITIZE="$sanitize" \
  -DEPOCHFS_TSAN="$tsan" \
  -DEPOCHFS_WERROR="$werror" \
  "${extra[@]}"
cmake --build "$dir" -j "$jobs" "${targets[@]}"
echo "$dir" >&3
