#!/usr/bin/env bash
# Installs the Debian packages Reef needs, then configures and builds one preset
# (default: release). Usage: scripts/build.sh [preset] [extra cmake --build args...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
bash scripts/install-deps.sh
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
jobs="${REEF_BUILD_JOBS:-$(nproc)}"
cmake --build "build/$preset" -j "$jobs" "$@"
