#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite: ctest on the build, then the
# sanitizer and fuzzing run (scripts/test_sanitized.sh: ASan+UBSan tests, each fuzz target for
# MASKGRPO_FUZZ_SECONDS, default 10 here, and ThreadSanitizer on the threaded parts).
# Ends with the minutes each stage took (also when a stage fails), so that every CI log carries
# the figures for the README's stage-by-stage table.
set -euo pipefail
cd "$(dirname "$0")/.."

STAGES=()
stage() {  # NAME COMMAND...: runs the command, records its wall time
  local name=$1 start=$SECONDS
  shift
  echo "== test.sh: $name ($(date +%H:%M:%S))"
  local rc=0
  "$@" || rc=$?
  local secs=$(( SECONDS - start ))
  STAGES+=("$(awk -v n="$name" -v s="$secs" -v rc="$rc" \
    'BEGIN { printf "%-30s %5.1f min (%d s)%s", n, s / 60, s, (rc == 0 ? "" : "  FAILED, exit " rc) }')")
  return $rc
}
report() {
  echo "== test.sh: stage times"
  local s
  for s in "${STAGES[@]}"; do echo "  $s"; done
}
trap report EXIT

stage "packages" bash scripts/install_deps.sh
stage "build" bash scripts/build.sh
# Two tests at a time; the timed, fault-injecting and two-core tests run alone (RUN_SERIAL in
# tests/CMakeLists.txt), and the container image build starts first, beside the unit tests.
stage "ctest" bash -c 'cd build && ctest --output-on-failure --timeout 900 -j 2'
stage "asan+ubsan build, tests, fuzz" env MASKGRPO_FUZZ_SECONDS="${MASKGRPO_FUZZ_SECONDS:-10}" bash scripts/test_sanitized.sh
stage "tsan build and tests" bash scripts/test_sanitized.sh --thread
