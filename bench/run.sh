#!/usr/bin/env bash
# epochfs vs local disk, s3fs and rclone over a Ceph RGW bucket behind a slow network
# (docs/benchmarks.md). As root, from anywhere:
#
#   bench/run.sh [--small] [OPTIONS]      # all options: bench/run.sh --help
#   bench/run.sh --small                  # CI-sized, about a minute once installed and built
#   bench/run.sh --doc docs/benchmarks.md --doc-section full    # the full run, into the doc
#   bench/run.sh --cleanup                # remove what a killed run left (mounts, RGW, netns)
#
# Installs what is missing (Debian: s3fs, rclone, iproute2, python3-torch; Ceph through
# test/rgw/rgw.sh install), builds epochfs (Release) with scripts/build.sh, then runs
# bench/harness/run.py with the options given here. $EPOCHFS_BIN skips the build and uses that
# binary. Cleans up on exit, Ctrl-C included; a run that was SIGKILLed is cleaned up by the
# next one (or --cleanup).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=(s3fs rclone iproute2 python3 python3-torch)

if [[ " $* " == *" -h "* || " $* " == *" --help "* ]]; then
  exec /usr/bin/python3 "$root/bench/harness/run.py" --help
fi
((EUID == 0)) || { echo "bench/run.sh: run as root (network namespace, mounts, drop_caches)" >&2; exit 2; }

missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bench/run.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
"$root/test/rgw/rgw.sh" install

if [[ " $* " != *" --cleanup "* ]]; then
  if [[ -n "${EPOCHFS_BIN:-}" ]]; then
    bin=$EPOCHFS_BIN
  else
    "$root/scripts/install-deps.sh" >&2
    bin=$("$root/scripts/build.sh" Release)/cli/epochfs
  fi
  set -- --epochfs "$bin" "$@"
fi

# The driver cleans up after itself on exit, error and SIGINT/SIGTERM/SIGHUP; this trap only
# covers the driver being killed outright.
status=0
/usr/bin/python3 "$root/bench/harness/run.py" "$@" || status=$?
if ((status != 0 && status != 1)) && [[ " $* " != *" --cleanup "* ]]; then
  args=()
  while (($#)); do
    case $1 in --work|--netns|--subnet) args+=("$1" "$2"); shift 2 ;; *) shift ;; esac
  done
  /usr/bin/python3 "$root/bench/harness/run.py" --cleanup "${args[@]}" || true
fi
exit "$status"
