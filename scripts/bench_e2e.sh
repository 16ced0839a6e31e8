#!/usr/bin/env bash
# End-to-end throughput: the in-process trainer (`maskgrpo train`) next to the distributed
# system (`maskgrpo launch`: reward server, learner, N rollout workers on loopback), both
# from the shipped base model with the default configs, for a few updates each.
#   bash scripts/bench_e2e.sh [UPDATES=5] [WORKERS=2] [REPEATS=1]
# Prints trained images/s (samples in updates 2..N over the time between update 1 and
# update N, so start-up and the evals are left out) and seconds per update. With REPEATS > 1
# the two systems alternate (so a slow spell of the machine hits both) and the script also
# prints each repeat's ratio and the mean +- standard error of both.
# Run it on an otherwise idle machine: both runs use every core.
set -euo pipefail
# Transparent huge pages for the heap (core/runtime.h); a setting of your own wins.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/.."
UPDATES=${1:-5}
WORKERS=${2:-2}
REPEATS=${3:-1}
BIN=build/bin
OUT=runs/bench_e2e
if [ "$UPDATES" -lt 2 ]; then echo "UPDATES must be >= 2" >&2; exit 2; fi
if [ "$REPEATS" -lt 1 ]; then echo "REPEATS must be >= 1" >&2; exit 2; fi
rm -rf "$OUT"
mkdir -p "$OUT"

for r in $(seq 1 "$REPEATS"); do
  dir="$OUT/repeat$r"
  echo "== repeat $r/$REPEATS, in-process: maskgrpo train --updates $UPDATES (configs/train.textproto)"
  "$BIN/maskgrpo" train --config configs/train.textproto --out "$dir/train" --updates "$UPDATES" \
    --eval-every 0 > "$dir.train.log" 2>&1 || { tail -n 20 "$dir.train.log"; exit 1; }
  echo "== repeat $r/$REPEATS, distributed: maskgrpo launch --workers $WORKERS --updates $UPDATES (configs/launch.textproto)"
  "$BIN/maskgrpo" launch --config configs/launch.textproto --out "$dir/launch" --workers "$WORKERS" \
    --updates "$UPDATES" > "$dir.launch.log" 2>&1 || { tail -n 20 "$dir.launch.log"; exit 1; }
done

python3 - "$OUT" "$WORKERS" "$REPEATS" <<'EOF'
import json, math, sys
out, workers, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rate(path):
    ups = [json.loads(l) for l in open(path) if '"kind":"update"' in l]
    if len(ups) < 2:
        sys.exit(f"{path}: fewer than 2 updates recorded")
    samples = sum(u["samples"] for u in ups[1:])
    seconds = ups[-1]["elapsed_seconds"] - ups[0]["elapsed_seconds"]
    return samples / seconds, seconds / (len(ups) - 1)
def mean_se(xs):
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
names = [("in-process trainer", "train"), (f"launcher, {workers} rollout workers", "launch")]
rates = {key: [] for _, key in names}
print(f"{'repeat':<7} {'system':<36} {'images/s':>9} {'s/update':>9}")
for r in range(1, repeats + 1):
    for name, key in names:
        ips, spu = rate(f"{out}/repeat{r}/{key}/metrics.jsonl")
        rates[key].append(ips)
        print(f"{r:<7} {name:<36} {ips:>9.2f} {spu:>9.1f}")
if repeats > 1:
    ratios = [l / t for l, t in zip(rates["launch"], rates["train"])]
    for name, key in names:
        m, se = mean_se(rates[key])
        print(f"{'mean':<7} {name:<36} {m:>9.2f} +- {se:.2f}")
    m, se = mean_se(ratios)
    print("launcher / in-process per repeat: " + ", ".join(f"{x:.2f}" for x in ratios) +
          f"; mean {m:.3f} +- {se:.3f}")
EOF
