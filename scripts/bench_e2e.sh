#!/usr/bin/env bash
# End-to-end throughput: the in-process trainer (`maskgrpo train`) next to the distributed
# system (`maskgrpo launch`: reward server, learner, N rollout workers on loopback), both
# from the shipped base model with the default configs, for a few updates each.
#   bash scripts/bench_e2e.sh [UPDATES=5] [WORKERS=2]
# Prints trained images/s (samples in updates 2..N over the time between update 1 and
# update N, so start-up and the first eval are left out) and seconds per update.
# Run it on an otherwise idle machine: both runs use every core.
set -euo pipefail
# Transparent huge pages for the heap (core/runtime.h); a setting of your own wins.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$(dirname "$0")/.."
UPDATES=${1:-5}
WORKERS=${2:-2}
BIN=build/bin
OUT=runs/bench_e2e
if [ "$UPDATES" -lt 2 ]; then echo "UPDATES must be >= 2" >&2; exit 2; fi
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== in-process: maskgrpo train --updates $UPDATES (configs/train.textproto)"
"$BIN/maskgrpo" train --config configs/train.textproto --out "$OUT/train" --updates "$UPDATES" \
  --eval-every 0 > "$OUT/train.log" 2>&1 || { tail -n 20 "$OUT/train.log"; exit 1; }
echo "== distributed: maskgrpo launch --workers $WORKERS --updates $UPDATES (configs/launch.textproto)"
"$BIN/maskgrpo" launch --config configs/launch.textproto --out "$OUT/launch" --workers "$WORKERS" \
  --updates "$UPDATES" > "$OUT/launch.log" 2>&1 || { tail -n 20 "$OUT/launch.log"; exit 1; }

python3 - "$OUT" "$WORKERS" <<'EOF'
import json, sys
out, workers = sys.argv[1], sys.argv[2]
def rate(path):
    ups = [json.loads(l) for l in open(path) if '"kind":"update"' in l]
    if len(ups) < 2:
        sys.exit(f"{path}: fewer than 2 updates recorded")
    samples = sum(u["samples"] for u in ups[1:])
    seconds = ups[-1]["elapsed_seconds"] - ups[0]["elapsed_seconds"]
    return samples / seconds, seconds / (len(ups) - 1)
print(f"{'system':<36} {'images/s':>9} {'s/update':>9}")
for name, path in [("in-process trainer", f"{out}/train/metrics.jsonl"),
                   (f"launcher, {workers} rollout workers", f"{out}/launch/metrics.jsonl")]:
    r, s = rate(path)
    print(f"{name:<36} {r:>9.2f} {s:>9.1f}")
EOF
