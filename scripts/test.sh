#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite: ctest on the build, then the
# sanitizer and fuzzing run (scripts/test_sanitized.sh: ASan+UBSan tests, each fuzz target for
# MASKGRPO_FUZZ_SECONDS, default 10 here, and ThreadSanitizer on the threaded parts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 -j 1)
MASKGRPO_FUZZ_SECONDS="${MASKGRPO_FUZZ_SECONDS:-10}" bash scripts/test_sanitized.sh
bash scripts/test_sanitized.sh --thread
