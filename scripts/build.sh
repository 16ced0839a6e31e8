#!/usr/bin/env bash
# Configures and builds into build/ (executables in build/bin/). ccache is used when present.
#   bash scripts/build.sh                 everything (libraries, tools, tests, benchmarks)
#   bash scripts/build.sh learner ...     only the named targets (the Docker image builds its
#                                         five executables this way)
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
# Not ccache's depend mode, though it saves a preprocessor pass per compile (a cold build took
# 527 s instead of 567 in a measurement of 2026-12-06): it hashes every header as bytes, so a
# machine whose kernel headers differ by a patch release (linux/version.h) misses on every
# file that includes them, where the default mode compares the preprocessed text and hits.
# The Docker image's build (tests/container_test.sh) missed 15 of 37 compiles that way.
# ccache hashes LANG and the LC_* variables (they change the compiler's messages): one fixed
# locale, so that a build in the Docker image (where none is set) hits the host's cache.
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE LC_MESSAGES
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > build.configure.log 2>&1 || { cat build.configure.log; exit 1; }
rm -f build.configure.log
# Two jobs: the machines have 2 cores and a torch translation unit needs ~1.5 GB.
ninja -C build -j "${MASKGRPO_BUILD_JOBS:-2}" "$@"
