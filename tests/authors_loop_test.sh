#!/usr/bin/env bash
# The Python version of the authors' sampling loop (benchmarks/authors_loop.py, what a user of
# the research scripts runs; `bench` compares the sampler with it) against the C++ loop of
# `maskgrpo bench`: the same checkpoint and generator seed must give the same image, code for
# code. This checks the Python port (an independent rewrite of the model and the schedule) and
# that the two loops do the same work, so that their speeds can be compared.
# Usage: authors_loop_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail
BIN=$1
SRC=$2
CKPT="$SRC/models/shapeworld_base.safetensors"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for seed in 7 8; do
  "$BIN/maskgrpo" bench --checkpoint "$CKPT" --batch 1 --repeats 1 --threads 2 \
    --loop-codes "$work/cpp$seed.npy" --loop-seed "$seed" > "$work/bench$seed.log" \
    || { cat "$work/bench$seed.log"; echo "authors_loop_test: bench failed" >&2; exit 1; }
  grep -q "wrote the authors'-style loop's first image (seed $seed)" "$work/bench$seed.log" \
    || { cat "$work/bench$seed.log"; echo "authors_loop_test: bench did not write the codes" >&2; exit 1; }
  /usr/bin/python3 "$SRC/benchmarks/authors_loop.py" "$CKPT" --threads 2 --images 1 --seed "$seed" \
    --codes "$work/py$seed.npy"
done
/usr/bin/python3 - "$work" <<'PY'
import sys
import numpy as np
w = sys.argv[1]
for seed in (7, 8):
    cpp, py = np.load(f"{w}/cpp{seed}.npy"), np.load(f"{w}/py{seed}.npy")
    assert cpp.shape == py.shape == (64,), (cpp.shape, py.shape)
    assert cpp.min() >= 0 and py.min() >= 0, "a position was left masked"
    same = int((cpp == py).sum())
    print(f"seed {seed}: {same}/64 codes equal")
    assert same == 64, f"seed {seed}: the Python loop drew {64 - same} codes differently from the C++ loop"
# The comparison can fail: another seed draws another image.
differ = int((np.load(f"{w}/cpp7.npy") != np.load(f"{w}/cpp8.npy")).sum())
print(f"seeds 7 and 8 differ in {differ}/64 codes")
assert differ > 0, "seeds 7 and 8 drew the same image: the seed does not reach the loop"
PY
echo "authors_loop_test: passed"
