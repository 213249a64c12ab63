#!/usr/bin/env bash
# The whole test suite from a clean checkout: installs dependencies, builds the release preset
# (assertions stay on), and runs every test — unit, fuzz, simulation and real-process
# integration — through ctest, which prints the summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
cd build/release
ctest --output-on-failure --timeout 900 -j "${REEF_TEST_JOBS:-2}" "$@"
