#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz/) with clang, ASan and UBSan, and runs each one.
#
#   scripts/fuzz.sh [--seconds N] [--update-corpus] [TARGET...]
#
# Targets: config, plan, list_xml, sigv4, integrity (default: all). Each runs N seconds
# (default 15; CI runs the default) from its corpus in test/fuzz/corpus/TARGET, copied to a
# scratch dir unless --update-corpus (then new inputs that add coverage are kept in the repo).
# Any crash, sanitizer report, input taking over 10 s, or more than 2 GiB of memory fails the
# run; the reproducer is left in build-fuzz/artifacts/. Longer runs: docs/reliability.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=15
update=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --update-corpus) update=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
((${#targets[@]})) || targets=(config plan list_xml sigv4 integrity)

# Debian 12's clang 14 and its libFuzzer and sanitizer runtimes.
missing=()
for pkg in clang-14 libfuzzer-14-dev libclang-rt-14-dev; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "fuzz.sh: installing ${missing[*]}"
  sudo=(); ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { "${sudo[@]}" apt-get update -q && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi

build=${EPOCHFS_FUZZ_BUILD_DIR:-$root/build-fuzz}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" \
  -DEPOCHFS_FUZZ=ON -DEPOCHFS_BUILD_TESTS=OFF -DEPOCHFS_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/artifacts"
status=0
for t in "${targets[@]}"; do
  seeds=$root/test/fuzz/corpus/$t
  if ((update)); then
    corpus=$seeds
  else
    corpus=$(mktemp -d "/tmp/epochfs-fuzz-$t.XXXXXX")
    cp -r "$seeds/." "$corpus/"
  fi
  echo "== fuzz_$t: ${seconds} s from $(ls "$seeds" | wc -l) seeds"
  # timeout: a fuzzer stuck in its own crash report (seen after an out-of-memory) fails the
  # run instead of hanging it.
  if ! timeout -k 10 $((seconds + 120)) "$build/test/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
       "$corpus" >"$build/fuzz_$t.log" 2>&1; then
    echo "fuzz.sh: fuzz_$t FAILED; log: $build/fuzz_$t.log, reproducer in $build/artifacts/" >&2
    tail -40 "$build/fuzz_$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | tr '\n' ' '
    echo
  fi
  ((update)) || rm -rf "$corpus"
done
exit $status
