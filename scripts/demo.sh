#!/usr/bin/env bash
# The demo: installs what it needs, builds epochfs (Release), then runs scripts/demo.py:
# shuffled epochs over a synthetic image-like dataset through a mount whose cache holds half
# of it. Arguments go to demo.py (--files, --size-kb, --epochs, --threads, --cache-fraction,
# --policies, ...; see `scripts/demo.py --help`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

"$root/scripts/install-deps.sh"
build=$("$root/scripts/build.sh" Release)
# Debian's interpreter: the python3 first on PATH may be another build.
exec /usr/bin/python3 "$root/scripts/demo.py" --bin "$build/cli/epochfs" "$@"
