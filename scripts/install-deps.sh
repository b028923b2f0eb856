#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and running epochfs need.
# Idempotent and quick when everything is there: asks dpkg first, and runs apt-get (update +
# install) only for what is missing. Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libfuse3-dev fuse3
  librocksdb-dev libxxhash-dev libssl-dev libyaml-cpp-dev libcli11-dev libspdlog-dev
  libfmt-dev libcurl4-openssl-dev zlib1g-dev nlohmann-json3-dev libtinyxml2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-torch python3-venv python3-pip python3-zarr
  python3-h5py python3-lmdb
  s3fs iproute2
)
# The S3 tests' Ceph RADOS Gateway is installed by test/rgw/rgw.sh when they first start it.
# python3-zarr: test_zarr.py reads zarr stores through mounts; python3-h5py and python3-lmdb:
# test_records.py reads records inside one large file.
# s3fs and iproute2: the benchmark harness's CI smoke test (one peer, a network namespace);
# bench/run.sh installs rclone too for full runs.

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -e /dev/fuse ]]; then
  # The fuse module may just not be loaded yet.
  if ((EUID == 0)) && command -v modprobe >/dev/null; then modprobe fuse 2>/dev/null || true; fi
  [[ -e /dev/fuse ]] || echo "install-deps: warning: /dev/fuse is missing; mounts (and the integration tests) will fail" >&2
fi
