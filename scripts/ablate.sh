#!/usr/bin/env bash
# Small-scale versions of the paper's ablations (mask-grpo.md sections 3-5), each a short
# `maskgrpo train` run from the shipped base model with fixed seeds:
#   transition candidate2 (the default) vs candidate1 vs full; KL on vs off; the std filter
#   off; computational reduction (loss on the last half of the steps); unmasking reduction
#   (rollouts with T/2 steps, evaluation with T); and the default with two other seeds, which
#   gives the run-to-run noise the other rows must be read against.
# Writes runs/ablation/<variant>/ (a normal run folder each) and runs/ablation/table.md.
# A variant that finished earlier with the same number of updates is kept, so an
# interrupted pass can be continued; delete runs/ablation/<variant> to run it again.
# Usage: bash scripts/ablate.sh [UPDATES (default 15)] [variant ...]
# ABLATE_THREADS=N sets LibTorch's thread count of each run (default: the config's). Two
# passes over disjoint variant lists with ABLATE_THREADS=1 use 2 cores better than one pass
# at 2 threads; a last pass over every variant then only writes the table.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATES=${1:-15}
shift || true
VARIANTS=("$@")
if [ ${#VARIANTS[@]} -eq 0 ]; then
  VARIANTS=(default seed2 seed3 candidate1 full kl no_filter last_half_steps rollout_t8)
fi
BIN=build/bin/maskgrpo
[ -x "$BIN" ] || bash scripts/build.sh
OUT=runs/ablation
mkdir -p "$OUT"

# Each variant is the default training config plus one change. Held-out eval uses 8
# prompts per task (192 images) before and after, to keep the runs short.
variant_fields() {
  case "$1" in
    default) echo "" ;;
    seed2) echo 'seed: 2' ;;
    seed3) echo 'seed: 3' ;;
    candidate1) echo 'learner { transition: "candidate1" }' ;;
    full) echo 'learner { transition: "full" }' ;;
    kl) echo 'learner { kl_beta: 0.05 }' ;;
    no_filter) echo 'filter { enabled: false }' ;;
    last_half_steps) echo 'learner { step_subset: "last" subset_steps: 8 }' ;;
    rollout_t8) echo 'rollout { steps: 8 }' ;;
    *) echo "unknown variant '$1'" >&2; return 1 ;;
  esac
}

for v in "${VARIANTS[@]}"; do
  fields=$(variant_fields "$v")
  dir="$OUT/$v"
  if [ -f "$dir/seconds" ] && [ "$(cat "$dir/updates" 2>/dev/null)" = "$UPDATES" ]; then
    echo "== $v: finished earlier, kept ($dir)"
    continue
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  # configs/train.textproto, then the variant's fields: configs are merged in order, so a
  # later block overrides only the fields it sets.
  {
    cat configs/train.textproto
    echo "eval { prompts_per_task: 8 }"
    [ -z "${ABLATE_THREADS:-}" ] || echo "runtime { threads: ${ABLATE_THREADS} }"
    echo "$fields"
  } > "$dir/ablation.textproto"
  echo "== $v: $UPDATES updates ($fields)"
  start=$(date +%s)
  "$BIN" train --config "$dir/ablation.textproto" --out "$dir/run" --updates "$UPDATES" --eval-every 0 \
    > "$dir/train.log" 2>&1 || { echo "variant $v failed; see $dir/train.log" >&2; exit 1; }
  echo "$UPDATES" > "$dir/updates"
  echo $(( $(date +%s) - start )) > "$dir/seconds"
  tail -n 1 "$dir/train.log"
done

python3 - "$OUT" "$UPDATES" "${VARIANTS[@]}" <<'PY'
import json, os, sys
out, updates, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tasks = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
rows = ["| variant | overall before | overall after | gain | dense before | dense after | " + " | ".join(tasks) + " | seconds |",
        "|---|" + "---|" * (len(tasks) + 6)]
for v in variants:
    run = os.path.join(out, v, "run", "eval")
    versions = sorted(os.listdir(run))
    before = json.load(open(os.path.join(run, versions[0], "eval.json")))
    after = json.load(open(os.path.join(run, versions[-1], "eval.json")))
    secs = open(os.path.join(out, v, "seconds")).read().strip()
    cells = [f"{after['tasks'][t]:.3f}" for t in tasks]
    rows.append(f"| {v} | {before['overall']:.3f} | {after['overall']:.3f} | {after['overall'] - before['overall']:+.3f} | "
                f"{before['mean_dense_reward']:.3f} | {after['mean_dense_reward']:.3f} | " + " | ".join(cells) + f" | {secs} |")
table = "\n".join(rows)
open(os.path.join(out, "table.md"), "w").write(f"{updates} updates per variant\n\n" + table + "\n")
print(table)
PY
