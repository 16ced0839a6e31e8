#!/usr/bin/env bash
# End-to-end checks of build/bin/maskgrpo: the real binary, real files.
#   usage: cli_test.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1/maskgrpo"
SRC="$2"
BASE="$SRC/models/shapeworld_base.safetensors"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
passes=0

pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }

# expect_error NAME EXPECTED_EXIT PATTERN -- CMD...
expect_error() {
  local name="$1" code="$2" pattern="$3"
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -q -- "$pattern" <<<"$out"; then pass "$name"; else fail "$name (exit $rc): $out"; fi
}

# --- bad input gets a clear error naming the problem ---
expect_error "unknown command" 2 "unknown command 'frobnicate'" -- "$BIN" frobnicate
expect_error "unknown flag" 2 "unknown flag --chekpoint" -- "$BIN" eval --chekpoint x --out "$WORK/e"
expect_error "missing checkpoint flag" 2 "needs --checkpoint" -- "$BIN" eval --out "$WORK/e"
expect_error "non-numeric flag" 2 "'many' is not an integer" -- "$BIN" eval --checkpoint "$BASE" --out "$WORK/e" --sampling-steps many
expect_error "missing checkpoint file" 2 "cannot open" -- "$BIN" eval --checkpoint "$WORK/nope.safetensors" --out "$WORK/e"
printf 'steps: 10\nbogus_field: 3\n' > "$WORK/bad.textproto"
expect_error "unknown config field" 2 "line 2" -- "$BIN" pretrain --config "$WORK/bad.textproto" --out "$WORK/p"
head -c 1000 "$BASE" > "$WORK/truncated.safetensors"
expect_error "truncated checkpoint" 1 "truncated" -- "$BIN" eval --checkpoint "$WORK/truncated.safetensors" --out "$WORK/e"
printf 'rollout { temperature: 0.7 }\n' > "$WORK/temp.textproto"
expect_error "training refuses a rollout temperature the replay does not use" 2 "rollout.temperature must be 1" -- \
  "$BIN" train --config "$WORK/temp.textproto" --out "$WORK/t"
[ ! -e "$WORK/t" ] && pass "no run folder written for a refused config" || fail "run folder written for a refused config"
printf 'rollout { guidance: nan }\n' > "$WORK/nan_guidance.textproto"
expect_error "a NaN CFG weight is refused before training" 1 "sampling.guidance must be in \[0, 100\], got nan" -- \
  "$BIN" check-config train "$WORK/nan_guidance.textproto"
printf 'group_size: 2000\n' > "$WORK/big_group.textproto"
expect_error "a group larger than any worker samples is refused" 1 "group_size must be in \[2, 1024\], got 2000" -- \
  "$BIN" check-config train "$WORK/big_group.textproto"
printf 'task_weights { key: "counting" value: -3 }\n' > "$WORK/negative_task_weight.textproto"
expect_error "a negative task weight is refused before training" 1 "task_weights\['counting'\] must be in \[0, 1e6\], got -3" -- \
  "$BIN" check-config train "$WORK/negative_task_weight.textproto"
expect_error "an out-of-range sampling flag is refused" 2 "sampling.guidance must be in \[0, 100\], got 1e+06" -- \
  "$BIN" eval --checkpoint "$BASE" --out "$WORK/e" --guidance 1000000
expect_error "unknown prompt word" 2 "'dog'" -- "$BIN" generate --checkpoint "$BASE" --out "$WORK/g.png" --prompt "a photo of a dog"
expect_error "bad device" 2 "device" -- "$BIN" eval --checkpoint "$BASE" --out "$WORK/e" --device tpu
expect_error "bench negative forward slice" 2 "forward-prompts must be in 0..65536" -- "$BIN" bench --forward-prompts -4
expect_error "bench negative loop seed" 2 "loop-seed must be >= 0, got -1" -- "$BIN" bench --loop-seed -1
# The benchmark end to end at a tiny size: every section prints, the replay runs in the
# learner's micro-batches (10 trajectories: one of 8 and one of 2).
out=$("$BIN" bench --batch 10 --sampling-steps 2 --repeats 1 --threads 1 --sweep 3 2>&1)
rc=$?
[ "$rc" -eq 0 ] && grep -q "sampler / authors'-style loop" <<<"$out" &&
  grep -q "10 trajectories x 2 steps in micro-batches of 8" <<<"$out" && grep -Eq "^ +3 +3 " <<<"$out" &&
  pass "bench runs every section at a tiny size" || fail "bench (exit $rc): $out"
out=$("$BIN" eval --help 2>&1) && grep -q "^usage: maskgrpo" <<<"$out" && pass "command --help prints the usage" ||
  fail "eval --help: $out"
# The service executables answer --help too (the container test calls them as a user would).
for exe in learner rollout_worker reward_server maskgrpo_health_probe; do
  out=$("$(dirname "$BIN")/$exe" --help 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] && grep -q "^usage: $exe" <<<"$out" && pass "$exe --help prints the usage" ||
    fail "$exe --help (exit $rc): $out"
done
out=$("$BIN" -h 2>&1) && grep -q "^usage: maskgrpo" <<<"$out" && pass "maskgrpo -h prints the usage" || fail "maskgrpo -h: $out"
# -h as a flag's value is a value, not a request for help.
out=$("$(dirname "$BIN")/rollout_worker" --worker-id -h --bogus 1 2>&1)
[ $? -eq 2 ] && grep -q "unknown flag --bogus" <<<"$out" && pass "-h as a flag value is not --help" ||
  fail "rollout_worker --worker-id -h: $out"
[ ! -e "$WORK/e/eval.json" ] && pass "no output written on errors" || fail "eval.json written despite errors"
# Weight fan-out settings are checked before anything starts.
printf 'weights_fanout: -1\n' > "$WORK/bad_fanout.textproto"
expect_error "learner fan-out out of range" 1 "weights_fanout must be in \[0, 64\]" -- \
  "$(dirname "$BIN")/learner" --config "$WORK/bad_fanout.textproto"
printf 'lease_wait_ms: 6000\n' > "$WORK/bad_lease_wait.textproto"
expect_error "worker long poll out of range" 1 "lease_wait_ms must be in \[0, 5000\]" -- \
  "$(dirname "$BIN")/rollout_worker" --config "$WORK/bad_lease_wait.textproto" --learner 127.0.0.1:1 --reward-servers 127.0.0.1:1
printf 'relay_listen: "127.0.0.1:0"\nlearner_tls { enabled: true }\n' > "$WORK/plaintext_relay.textproto"
expect_error "worker relay in plaintext beside an encrypted learner link" 1 "set relay_tls" -- \
  "$(dirname "$BIN")/rollout_worker" --config "$WORK/plaintext_relay.textproto" --learner 127.0.0.1:1 --reward-servers 127.0.0.1:1
expect_error "worker relay on every interface with no address to advertise" 1 "set relay_advertise" -- \
  "$(dirname "$BIN")/rollout_worker" --learner 127.0.0.1:1 --reward-servers 127.0.0.1:1 --relay-listen 0.0.0.0:0

# --- pretraining writes checkpoints and resumes ---
out=$("$BIN" pretrain --out "$WORK/p" --steps 4 --batch-size 8 2>&1)
if [ $? -eq 0 ] && [ -f "$WORK/p/model.safetensors" ] && grep -q "loss" <<<"$out"; then pass "pretrain 4 steps"; else fail "pretrain: $out"; fi
out=$("$BIN" pretrain --out "$WORK/p" --steps 6 --batch-size 8 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from .* at step 4" <<<"$out" && grep -q "step      6/6" <<<"$out"; then
  pass "pretrain resumes"; else fail "pretrain resume: $out"; fi

# --- generate writes a PNG ---
if "$BIN" generate --checkpoint "$BASE" --out "$WORK/g.png" --images-per-prompt 2 >/dev/null 2>&1 &&
   [ "$(head -c 4 "$WORK/g.png" | tail -c 3)" = "PNG" ]; then pass "generate png"; else fail "generate png"; fi
# In chunks of batch_images (6 tasks x 2 images = 12 in chunks of 5), saying how far it got.
printf 'batch_images: 5\nsampling { steps: 2 }\n' > "$WORK/gen_chunks.textproto"
out=$("$BIN" generate --config "$WORK/gen_chunks.textproto" --checkpoint "$BASE" --out "$WORK/g5.png" --images-per-prompt 2 2>&1)
[ $? -eq 0 ] && grep -q "generate: 5/12 images" <<<"$out" && grep -q "generate: 10/12 images" <<<"$out" &&
  grep -q "(12 images)" <<<"$out" && pass "generate in chunks" || fail "generate in chunks: $out"
printf 'batch_images: 0\n' > "$WORK/gen_zero.textproto"
expect_error "generate refuses batch_images 0" 2 "batch_images must be > 0, got 0" -- \
  "$BIN" generate --config "$WORK/gen_zero.textproto" --checkpoint "$BASE" --out "$WORK/g0.png"
[ ! -e "$WORK/g0.png" ] && pass "no image written for a refused generate config" || fail "image written for a refused config"

# --- the shipped base model under the default evaluation protocol: schema and score band ---
# Measured: overall 0.263 (README). The lower bound has 0.05 of slack for numerical
# differences between CPUs / BLAS builds, which can change sampled tokens.
# Under the sanitizers (MASKGRPO_SANITIZED=1, set by scripts/test_sanitized.sh) the same
# command runs on 2 prompts x 2 images per task and only the schema is checked: the 384 images
# took ~6 of that run's minutes, and a score band over 24 images would be noise; the band is
# the plain build's check.
eval_flags=() images=384 per_prompt=4 band=1
if [ "${MASKGRPO_SANITIZED:-0}" = 1 ]; then
  eval_flags=(--prompts-per-task 2 --images-per-prompt 2) images=24 per_prompt=2 band=0
fi
if "$BIN" eval --config "$SRC/configs/eval.textproto" --checkpoint "$BASE" --out "$WORK/eval" "${eval_flags[@]}" \
     > "$WORK/eval.log" 2>&1; then
  if python3 - "$WORK/eval/eval.json" "$images" "$per_prompt" "$band" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
images, per_prompt, band = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
tasks = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
assert set(tasks) <= set(j["tasks"]), j
assert j["images"] == images, j["images"]
for t in tasks:
    assert 0.0 <= j["tasks"][t] <= 1.0, (t, j["tasks"][t])
assert abs(j["overall"] - sum(j["tasks"][t] for t in tasks) / 6) < 1e-4, j
assert j["sampling_steps"] == 16 and j["images_per_prompt"] == per_prompt, j
# results.jsonl: one line per image whose verdicts add up to the table.
rows = [json.loads(line) for line in open(sys.argv[1].replace("eval.json", "results.jsonl"))]
assert len(rows) == images, len(rows)
for t in tasks:
    mine = [r for r in rows if r["tag"] == t]
    assert abs(sum(r["correct"] for r in mine) / len(mine) - j["tasks"][t]) < 1e-9, t
    assert all((r["reason"] == "") == r["correct"] and 0 <= r["graded"] <= 1 for r in mine), t
# Decent but clearly imperfect (room for RL), with GenEval's pattern: position and colour
# attribution are the hardest tasks.
if band:
    assert 0.20 <= j["overall"] <= 0.65, j["overall"]
    for hard in ["position", "color_attr"]:
        assert j["tasks"][hard] < j["tasks"]["single_object"], j["tasks"]
        assert j["tasks"][hard] < j["tasks"]["colors"], j["tasks"]
PY
  then pass "base model eval ($images images$([ "$band" = 1 ] && echo ", score band"))"
  else fail "base model eval: $(cat "$WORK/eval/eval.json")"; fi
else
  fail "base model eval run: $(tail -5 "$WORK/eval.log")"
fi

# --- train: bad input, a short run, stop and resume, and a changed config on resume ---
echo 'learner { transition: "candidate3" }' > "$WORK/bad_transition.textproto"
expect_error "train unknown transition" 2 "transition must be candidate1, candidate2, full or remask" -- \
  "$BIN" train --config "$WORK/bad_transition.textproto" --out "$WORK/t_bad"
echo 'learner { minibatch_split: "prompts" }' > "$WORK/bad_split.textproto"
expect_error "train unknown minibatch split" 2 "minibatch_split must be samples or groups, got 'prompts'" -- \
  "$BIN" train --config "$WORK/bad_split.textproto" --out "$WORK/t_bad"
echo 'learner { step_weight: "token" }' > "$WORK/bad_weight.textproto"
expect_error "check-config train names a bad value" 1 "step_weight must be equal or tokens, got 'token'" -- \
  "$BIN" check-config train "$WORK/bad_weight.textproto"
expect_error "train unknown step weight" 2 "step_weight must be equal or tokens, got 'token'" -- \
  "$BIN" train --config "$WORK/bad_weight.textproto" --out "$WORK/t_bad"
echo 'learner { candidate1_edge: "soft" }' > "$WORK/bad_edge.textproto"
expect_error "train unknown candidate1 edge" 2 "candidate1_edge must be fixed or noise, got 'soft'" -- \
  "$BIN" train --config "$WORK/bad_edge.textproto" --out "$WORK/t_bad"
echo 'learner { minibatch_split: "groups" minibatches: 9 }' > "$WORK/bad_groups.textproto"
expect_error "train more group minibatches than groups" 2 "minibatch_split groups needs minibatches <= groups_per_update" -- \
  "$BIN" train --config "$WORK/bad_groups.textproto" --out "$WORK/t_bad"
echo 'learner { frozen_parameters: "^embed" }' > "$WORK/bad_frozen.textproto"
expect_error "train frozen pattern matching nothing" 2 "learner.frozen_parameters: '^embed' matches no parameter" -- \
  "$BIN" train --config "$WORK/bad_frozen.textproto" --init "$BASE" --out "$WORK/t_bad"
echo 'filter { percentile: 101 }' > "$WORK/bad_filter.textproto"
expect_error "train bad filter percentile" 2 "percentile" -- "$BIN" train --config "$WORK/bad_filter.textproto" --out "$WORK/t_bad"
expect_error "train bad dump flag" 2 "dump-groups must be true or false" -- "$BIN" train --out "$WORK/t_bad" --dump-groups yes
expect_error "train missing init model" 2 "nope.safetensors" -- "$BIN" train --out "$WORK/t_bad" --init "$WORK/nope.safetensors"
[ ! -e "$WORK/t_bad/metrics.jsonl" ] && pass "train writes no run on bad input" || fail "train wrote a run on bad input"
cat > "$WORK/tiny_train.textproto" <<EOF
init_model: "$BASE"
rollout { steps: 4 }
group_size: 4
groups_per_update: 2
updates: 3
learner { micro_batch: 4 }
eval { prompts_per_task: 1 images_per_prompt: 1 sampling { steps: 4 } }
eval_every: 0
checkpoint_every: 1
EOF
out=$("$BIN" train --config "$WORK/tiny_train.textproto" --out "$WORK/t" --stop-after 2 --dump-groups true 2>&1)
if [ $? -eq 0 ] && grep -q "update    2/3" <<<"$out" && grep -q "stopped at version 2" <<<"$out" &&
   [ -f "$WORK/t/groups/v000002/tokens.npy" ]; then pass "train 2 of 3 updates"; else fail "train: $out"; fi
out=$("$BIN" train --config "$WORK/tiny_train.textproto" --out "$WORK/t" --dump-groups true 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from .*v000002 at version 2" <<<"$out" && grep -q "update    3/3" <<<"$out" &&
   [ -f "$WORK/t/model.safetensors" ] && [ "$(grep -c '"kind":"update"' "$WORK/t/metrics.jsonl")" -eq 3 ]; then
  pass "train resumes to the end"; else fail "train resume: $out"; fi
expect_error "train resume with another config" 1 "different config" -- \
  "$BIN" train --config "$WORK/tiny_train.textproto" --out "$WORK/t" --seed 5
"$BIN" eval --checkpoint "$WORK/t/model.safetensors" --out "$WORK/t_eval" --prompts-per-task 1 --images-per-prompt 1 \
  >/dev/null 2>&1 && pass "trained model loads in eval" || fail "trained model does not load"

# The dumped groups open with numpy alone (Debian's python3-numpy, hence /usr/bin/python3).
if /usr/bin/python3 - "$WORK/t/groups/v000003" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1] + "/"
meta = json.load(open(d + "groups.json"))
tokens, reveal = np.load(d + "tokens.npy"), np.load(d + "reveal_step.npy")
rewards, adv, group = np.load(d + "rewards.npy"), np.load(d + "advantages.npy"), np.load(d + "group_index.npy")
lp = np.load(d + "logp_candidate2.npy")
G, T = meta["group_size"], meta["steps"]
assert tokens.shape == (8, 64) and tokens.dtype == np.int64, tokens.shape
assert reveal.shape == (8, 64) and reveal.min() >= 0 and reveal.max() < T
assert lp.shape == (8, T) and np.isfinite(lp).all() and (lp <= 0).all()
assert list(group) == [0] * G + [1] * G and len(meta["prompts"]) == 2
for g in range(2):  # the advantages are the group-normalised rewards
    r = rewards[group == g]
    assert np.allclose(adv[group == g], (r - r.mean()) / (r.std(ddof=1) + 1e-4)), (r, adv)
PY
then pass "dumped groups load with numpy"; else fail "dumped groups do not load with numpy"; fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
