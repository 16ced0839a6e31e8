#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 1
