#!/usr/bin/env bash
# maskgrpo's batched sampler against what a user of the Mask-GRPO authors' scripts runs: the
# same loop in Python (benchmarks/authors_loop.py: one image at a time, a full-sequence forward
# of the prompt and its CFG twin per step), on the same checkpoint, settings and thread count.
# The C++ port of that loop is `bench`'s own row; tests/authors_loop_test.sh checks that the two
# loops draw the same image for the same seed, so they do the same work.
#   bash scripts/bench_vs_python.sh [BATCH=64] [THREADS=2] [REPEATS=3]
# Prints bench's table, the Python loop's images/s and both ratios. Run it on an idle machine.
set -euo pipefail
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/.."
BATCH=${1:-64}
THREADS=${2:-2}
REPEATS=${3:-3}
CKPT=models/shapeworld_base.safetensors
BIN=build/bin/maskgrpo
[ -x "$BIN" ] || { echo "bench_vs_python: $BIN is missing (bash scripts/build.sh)" >&2; exit 1; }
for n in "$BATCH" "$THREADS" "$REPEATS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench_vs_python: BATCH, THREADS and REPEATS must be positive integers, got '$n'" >&2; exit 2; }
done
bench=$("$BIN" bench --checkpoint "$CKPT" --batch "$BATCH" --threads "$THREADS" --repeats "$REPEATS")
echo "$bench"
sampler=$(sed -n "s/^sampler images\/s (prompt encoded once) *//p" <<<"$bench")
cpp_loop=$(sed -n "s/^authors'-style loop images\/s *//p" <<<"$bench")
py_out=$(/usr/bin/python3 benchmarks/authors_loop.py "$CKPT" --threads "$THREADS" --images 8)
echo "$py_out"
py_loop=$(sed -n "s/^python authors'-style loop: \([0-9.]*\) images\/s.*/\1/p" <<<"$py_out")
awk -v s="$sampler" -v c="$cpp_loop" -v p="$py_loop" 'BEGIN {
  if (s == "" || c == "" || p == "" || p <= 0 || c <= 0) { print "bench_vs_python: could not read the figures" > "/dev/stderr"; exit 1 }
  printf "%-46s %12.2f\n", "sampler images/s (batch, C++)", s
  printf "%-46s %12.2f\n", "authors'\''-style loop images/s, C++", c
  printf "%-46s %12.2f\n", "authors'\''-style loop images/s, Python", p
  printf "%-46s %11.2fx\n", "sampler / loop in C++", s / c
  printf "%-46s %11.2fx\n", "sampler / loop in Python", s / p
}'
