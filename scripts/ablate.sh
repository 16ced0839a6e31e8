#!/usr/bin/env bash
# The seed protocol for every claim about a training setting: each variant is the default
# training config (configs/train.textproto) plus one change, run from the shipped base model
# on the same training seeds as the default, and judged by a paired comparison: the mean and
# standard error over seeds of (variant's gain - default's gain on the same seed).
#
# Variants (mask-grpo.md sections 3-5, and this project's levers):
#   default (since 2396481: remask_tokens, below); candidate2 (the default before it),
#   candidate1, candidate1_noise (its Gumbel-consistent edge), full (transition definitions,
#   each with per-step weights as measured before); remask (the re-masking likelihood of
#   MaskGRPO / UDM-GRPO: the final image scored under seeded random masks, per-draw weights);
#   kl (KL to the initial weights);
#   no_filter (std filter off); last_half_steps (computational reduction); rollout_t8
#   (unmasking reduction: rollouts with T/2 steps, evaluation with T); group_minibatches
#   (whole groups per minibatch); token_weight (candidate2 with every revealed token weighing
#   the same in the objective, not every step); remask_tokens (remask with every re-masked token weighing the
#   same: a draw that masks many tokens counts for more than one that masks few); graded,
#   graded_no_filter (a reward for which the paper's percentile filter acts: with the binary
#   verdict at G = 8 it resamples only zero-spread groups); binary_clean (the binary verdict
#   minus 0.05 per fragment, at most 4: a signal inside groups where every image fails);
#   counting_x3 (counting prompts drawn 3 times as often as each other task's: 3/8 of the
#   groups instead of 1/6, a lever for the one task that ends below the base model);
#   graded_nofrag (`graded` without its charge for fragments: does a continuous reward that,
#   like a CLIP score, does not charge for broken regions learn under the default?);
#   graded_nofrag_no_filter (the same with the std filter off: the paper's filter judged on a
#   continuous reward that learns, where it acts on more than zero-spread groups);
#   ema (the default with a moving average of the weights, decay 0.9, evaluated beside the
#   policy on the same images: training is the default's, so the table's extra row pairs the
#   average with the same runs' policy);
#   lr_constant (the default's learning rate without the cosine decay after warm-up: the
#   policy still improves over the last updates, so does a decay to 0.1x stop it early?);
#   lr_high, lr_low (the peak learning rate 3e-4 and 1e-4 instead of 2e-4, the cosine decay
#   kept: a constant 2e-4 lost on every seed, so is the default's peak itself too high?);
#   base_long (the default from a base pretrained 3x as long: 7200 steps of
#   configs/pretrain.textproto instead of the shipped model's 2400; make it first with
#   `maskgrpo pretrain --config configs/pretrain.textproto --out runs/pretrain_7200 --steps 7200`
#   (40-50 min on 2 cores) or name another with ABLATE_LONG_BASE; its gain is over its own base,
#   so the table also pairs the scores after training);
#   epochs2_draws8 (two passes over each update's rollouts, each scoring 8 re-masking draws
#   per image instead of 16: the same learning cost as the default; 8 draws alone cost
#   nothing measurable, so does spending the saving on a second pass learn more per rollout?);
#   groups12_draws8 (12 prompts per update instead of 8, with 8 draws per image: a 1.5x
#   larger sample per Adam step at about the default's cost; does less gradient noise on the
#   sparse verdict make the gain steadier across seeds?);
#   hard_tasks (single_object and colors never drawn for training, `task_weights` 0: the
#   four tasks where the default ends lowest get every group; do the easy tasks still improve
#   by transfer, and do the hard ones gain more?);
#   launch (the default config run by the main command's system instead of `train`:
#   `maskgrpo launch` with configs/launch.textproto, a reward server, the learner and 2
#   rollout workers on loopback; its paired column is launcher - `train` on the same seeds).
# The other variants change one thing on top of the default, so rows run before 2396481
# (docs/ablation.md) were measured on candidate2 and rows run since on remask_tokens.
#
# Writes runs/ablation/<variant>/seed<N>/ (a run folder each, its log and wall seconds) and
# runs/ablation/table.md (ABLATE_OUT names another folder: a folder holds one run per variant
# and seed, so keep passes with another UPDATES apart). A (variant, seed) that finished earlier
# with the same number of updates is kept, and one interrupted with the same config and
# UPDATES resumes from its last checkpoint, so an interrupted pass continues where it stopped;
# delete a folder to run it again.
#
# Usage: bash scripts/ablate.sh [UPDATES (default 60)] [variant ...]
#   ABLATE_SEEDS="1 2 3"   training seeds (default 1 2 3; use >= 3 for any claim)
#   ABLATE_EVAL='eval { prompts_per_task: 0 images_per_prompt: 4 min_images_per_task: 64 }'
#                          the held-out protocol of the runs' own evaluations: by default the
#                          broad one, every held-out prompt with 4 images each and at least 64
#                          images per task
#   ABLATE_FINAL_EVAL='--prompts-per-task 0 --min-images-per-task 64'   when set, also
#                          evaluates the base model once (OUT/base_eval) and every final
#                          policy (seed<N>/final_eval) with these `maskgrpo eval` flags; the
#                          table then adds gains under that protocol (to re-judge runs made
#                          with another ABLATE_EVAL without training them again)
#   ABLATE_THREADS=N       LibTorch threads per run (default: the config's; not `launch`, which
#                          keeps configs/launch.textproto's split between learner and workers). Two passes over
#                          disjoint variant lists at 1 thread each use 2 cores better than one
#                          pass at 2; a last pass over every variant only writes the table.
#   ABLATE_TRAIN_SPLIT=1   also evaluate each final policy on the training prompts
#   ABLATE_OUT=DIR         where the runs and the table go (default runs/ablation)
#   ABLATE_CHECK=1         only check that each variant's config parses (no training; the
#                          test suite runs this); ABLATE_BIN names the maskgrpo binary
set -euo pipefail
# Bash reads a script while it runs it, so editing this file during a pass (hours long) would
# change the running pass mid-way: run a private copy of it instead, from the repository root.
# Only the copy (named by ABLATE_PRIVATE_COPY) is ever removed, whatever the caller exports.
if [ "${ABLATE_PRIVATE_COPY:-}" != "$0" ]; then
  copy=$(mktemp "${TMPDIR:-/tmp}/ablate.XXXXXX.sh")
  cp "$0" "$copy"
  ABLATE_PRIVATE_COPY=$copy ABLATE_REPO=$(cd "$(dirname "$0")/.." && pwd) exec bash "$copy" "$@"
fi
trap 'rm -f "$ABLATE_PRIVATE_COPY"' EXIT
# Transparent huge pages for the heap (core/runtime.h); a setting of your own wins.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
cd "$ABLATE_REPO"
UPDATES=${1:-60}
shift || true
VARIANTS=("$@")
if [ ${#VARIANTS[@]} -eq 0 ]; then
  VARIANTS=(default candidate2 candidate1 candidate1_noise full kl no_filter last_half_steps rollout_t8 group_minibatches
            graded graded_no_filter remask token_weight remask_tokens binary_clean counting_x3 launch
            graded_nofrag graded_nofrag_no_filter ema lr_constant lr_high lr_low base_long
            epochs2_draws8 groups12_draws8 hard_tasks)
fi
read -r -a SEEDS <<< "${ABLATE_SEEDS:-1 2 3}"
EVAL_FIELDS=${ABLATE_EVAL:-'eval { prompts_per_task: 0 images_per_prompt: 4 min_images_per_task: 64 }'}
BIN=${ABLATE_BIN:-build/bin/maskgrpo}
LONG_BASE=${ABLATE_LONG_BASE:-runs/pretrain_7200/model.safetensors}  # the base_long variant's model

variant_fields() {
  case "$1" in
    default) echo "" ;;
    # The transition rows name their step weight: the default's ("tokens") differs from the
    # one they were measured with before remask_tokens became the default (2396481).
    candidate2) echo 'learner { transition: "candidate2" step_weight: "equal" }' ;;
    candidate1) echo 'learner { transition: "candidate1" step_weight: "equal" }' ;;
    candidate1_noise) echo 'learner { transition: "candidate1" candidate1_edge: "noise" step_weight: "equal" }' ;;
    full) echo 'learner { transition: "full" step_weight: "equal" }' ;;
    remask) echo 'learner { transition: "remask" step_weight: "equal" }' ;;
    kl) echo 'learner { kl_beta: 0.05 }' ;;
    no_filter) echo 'filter { enabled: false }' ;;
    last_half_steps) echo 'learner { step_subset: "last" subset_steps: 8 }' ;;
    rollout_t8) echo 'rollout { steps: 8 }' ;;
    group_minibatches) echo 'learner { minibatch_split: "groups" }' ;;
    token_weight) echo 'learner { transition: "candidate2" step_weight: "tokens" }' ;;
    remask_tokens) echo 'learner { transition: "remask" step_weight: "tokens" }' ;;
    graded) echo 'reward: "graded"' ;;
    graded_no_filter) echo 'reward: "graded" filter { enabled: false }' ;;
    binary_clean) echo 'reward: "binary_clean"' ;;
    graded_nofrag) echo 'reward: "graded_nofrag"' ;;
    graded_nofrag_no_filter) echo 'reward: "graded_nofrag" filter { enabled: false }' ;;
    counting_x3) echo 'task_weights { key: "counting" value: 3 }' ;;
    ema) echo 'learner { ema_decay: 0.9 }' ;;
    lr_constant) echo 'learner { min_lr_ratio: 1.0 }' ;;
    # The peak learning rate (the default's 2e-4) half as large again and halved; the cosine
    # decay to 10 % of the peak stays.
    lr_high) echo 'learner { learning_rate: 3e-4 }' ;;
    lr_low) echo 'learner { learning_rate: 1e-4 }' ;;
    base_long) echo "init_model: \"$LONG_BASE\"" ;;
    # Cost-neutral reallocations of the learning half (8 draws lost nothing: last_half_steps).
    epochs2_draws8) echo 'learner { inner_epochs: 2 step_subset: "last" subset_steps: 8 }' ;;
    groups12_draws8) echo 'groups_per_update: 12 learner { step_subset: "last" subset_steps: 8 }' ;;
    hard_tasks) echo 'task_weights { key: "single_object" value: 0 } task_weights { key: "colors" value: 0 }' ;;
    launch) echo "" ;;  # the default, through `maskgrpo launch` (launch_learner_config below)
    *) echo "unknown variant '$1'" >&2; return 1 ;;
  esac
}

# The default config, then the protocol's and the variant's fields: configs are merged in
# order, so a later block overrides only the fields it sets.
variant_config() {  # VARIANT SEED
  local fields
  fields=$(variant_fields "$1") || return 1
  cat configs/train.textproto
  echo "seed: $2"
  echo "$EVAL_FIELDS"
  [ -z "${ABLATE_THREADS:-}" ] || echo "runtime { threads: ${ABLATE_THREADS} }"
  echo "$fields"
}

# The `launch` variant: the learner's config (configs/learner.textproto with the default train
# config underneath, plus the seed and the protocol's evaluation, only before and after as
# `train` runs here) and a launch config that points at it. The learner config is what
# decides a resume (ablation.textproto), as for `train`.
launch_learner_config() {  # SEED
  cat configs/learner.textproto
  echo "train { seed: $1 $EVAL_FIELDS eval_every: 0 }"
}
launch_config() {  # LEARNER_CONFIG_PATH
  sed "s|^learner_config: .*|learner_config: \"$1\"|" configs/launch.textproto
}

# ABLATE_CHECK=1: only check that every variant's config parses as a train config (the test
# suite runs this); nothing is trained and nothing is written under runs/.
if [ "${ABLATE_CHECK:-0}" = 1 ]; then
  [ -x "$BIN" ] || { echo "no $BIN (set ABLATE_BIN)" >&2; exit 1; }
  tmp=$(mktemp -d)
  for v in "${VARIANTS[@]}"; do
    if [ "$v" = launch ]; then
      launch_learner_config "${SEEDS[0]}" > "$tmp/learner.textproto"
      launch_config "$tmp/learner.textproto" > "$tmp/launch.textproto"
      "$BIN" check-config learner "$tmp/learner.textproto" > /dev/null &&
        "$BIN" check-config launch "$tmp/launch.textproto" > /dev/null ||
        { echo "variant $v: config rejected" >&2; rm -rf "$tmp"; exit 1; }
      continue
    fi
    variant_config "$v" "${SEEDS[0]}" > "$tmp/$v.textproto" || { rm -rf "$tmp"; exit 1; }
    "$BIN" check-config train "$tmp/$v.textproto" > /dev/null || { echo "variant $v: config rejected" >&2; rm -rf "$tmp"; exit 1; }
  done
  rm -rf "$tmp"
  echo "${#VARIANTS[@]} variant configs parse"
  exit 0
fi

[ -x "$BIN" ] || bash scripts/build.sh
OUT=${ABLATE_OUT:-runs/ablation}
mkdir -p "$OUT"

# base_long needs a model made beforehand: say so before hours of other variants, not after.
for v in "${VARIANTS[@]}"; do
  if [ "$v" = base_long ] && [ ! -f "$LONG_BASE" ]; then
    echo "variant base_long: no $LONG_BASE; make it with" \
      "maskgrpo pretrain --config configs/pretrain.textproto --out runs/pretrain_7200 --steps 7200" >&2
    exit 1
  fi
done

for v in "${VARIANTS[@]}"; do
  fields=$(variant_fields "$v")
  for seed in "${SEEDS[@]}"; do
    dir="$OUT/$v/seed$seed"
    if [ -f "$dir/seconds" ] && [ "$(cat "$dir/updates" 2>/dev/null)" = "$UPDATES" ]; then
      echo "== $v seed $seed: finished earlier, kept ($dir)"
      continue
    fi
    if [ "$v" = launch ]; then config=$(launch_learner_config "$seed"); else config=$(variant_config "$v" "$seed"); fi
    # The run length is a flag, not a config field: recorded here so that it decides a resume too.
    config="$config"$'\n'"# run with --updates $UPDATES"
    # An interrupted run with the same config and length resumes from its last checkpoint
    # (`train` does that by itself); anything else starts over.
    if [ ! -f "$dir/ablation.textproto" ] || [ "$(cat "$dir/ablation.textproto")" != "$config" ]; then
      rm -rf "$dir"
      mkdir -p "$dir"
      echo "$config" > "$dir/ablation.textproto"
    fi
    echo "== $v seed $seed: $UPDATES updates ($fields)  $(date +%H:%M:%S)"
    start=$(date +%s)
    if [ "$v" = launch ]; then
      launch_config "$dir/ablation.textproto" > "$dir/launch.textproto"
      "$BIN" launch --config "$dir/launch.textproto" --out "$dir/run" --updates "$UPDATES" \
        >> "$dir/train.log" 2>&1 || { echo "variant $v seed $seed failed; see $dir/train.log" >&2; exit 1; }
    else
      "$BIN" train --config "$dir/ablation.textproto" --out "$dir/run" --updates "$UPDATES" --eval-every 0 \
        >> "$dir/train.log" 2>&1 || { echo "variant $v seed $seed failed; see $dir/train.log" >&2; exit 1; }
    fi
    if [ "${ABLATE_TRAIN_SPLIT:-0}" = 1 ]; then
      "$BIN" eval --checkpoint "$dir/run/model.safetensors" --out "$dir/train_split" --split train \
        ${ABLATE_THREADS:+--threads "$ABLATE_THREADS"} > "$dir/train_split.log" 2>&1 \
        || { echo "train-split eval of $v seed $seed failed; see $dir/train_split.log" >&2; exit 1; }
    fi
    echo "$UPDATES" > "$dir/updates"
    echo $(( $(date +%s) - start )) > "$dir/seconds"
    tail -n 1 "$dir/train.log"
  done
done

if [ -n "${ABLATE_FINAL_EVAL:-}" ]; then
  # The same flags for the base model and every final policy; seeds and sampling as `eval`'s
  # defaults (configs/eval.textproto), so the only difference is the weights.
  final_eval() {  # MODEL OUT_DIR
    [ -f "$2/eval.json" ] && return 0
    # shellcheck disable=SC2086
    "$BIN" eval --checkpoint "$1" --out "$2" $ABLATE_FINAL_EVAL ${ABLATE_THREADS:+--threads "$ABLATE_THREADS"} \
      > "$2.log" 2>&1 || { echo "final eval of $1 failed; see $2.log" >&2; exit 1; }
  }
  final_eval models/shapeworld_base.safetensors "$OUT/base_eval"
  for v in "${VARIANTS[@]}"; do
    for seed in "${SEEDS[@]}"; do
      dir="$OUT/$v/seed$seed"
      [ -f "$dir/seconds" ] && final_eval "$dir/run/model.safetensors" "$dir/final_eval"
    done
  done
fi

/usr/bin/python3 scripts/ablation_table.py "$OUT" "$UPDATES" "${VARIANTS[@]}"
