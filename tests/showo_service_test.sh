#!/usr/bin/env bash
# The Show-o world through the whole service, on a tiny setup written in the published
# layouts (core/showo/testdata/showo_world_fixture.py: Phi-style tokenizer files, a Show-o
# checkpoint folder and a MAGVIT-v2 checkpoint pickled by torch.save, GenEval-style prompts):
#   1. `maskgrpo generate` from the published Show-o folder writes a PNG of decoded images,
#      and the folder converted by `maskgrpo convert` generates the same PNG;
#   2. `maskgrpo launch` (reward server with a TorchScript reward, learner, 2 rollout
#      workers) trains 2 updates starting from that folder;
#   3. `generate` from the trained maskgrpo checkpoint, and `eval` of it on the held-out
#      prompts with the reward server's scorers in process (per-task means);
#   4. a worker configured for ShapeWorld refuses the Show-o learner's model.
#   usage: showo_service_test.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1"
SRC="$2"
WORK=$(mktemp -d)
trap 'pkill -KILL -f "$WORK" 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3

"$PY" "$SRC/core/showo/testdata/showo_world_fixture.py" "$WORK/fx" || fail "the fixture needs Debian's python3-torch"
"$PY" "$SRC/core/showo/testdata/brightness_reward.py" "$WORK/brightness.pt" || fail "could not export the TorchScript reward"

WORLD="world {
  name: \"showo\"
  prompt_file: \"$WORK/fx/prompts.jsonl\"
  heldout_fraction: 0.34
  tokenizer_dir: \"$WORK/fx/tokenizer\"
  vq_model: \"$WORK/fx/magvit\"
  max_text_len: 12
  image_tokens: 16
}"
cat > "$WORK/generate.textproto" <<CFG
runtime { threads: 1 }
sampling { steps: 4 guidance: 1.75 }
images_per_prompt: 2
scale: 4
$WORLD
CFG
png_size() { "$PY" -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); assert d[:8]==b'\\x89PNG\\r\\n\\x1a\\n'; print(*struct.unpack('>II', d[16:24]))" "$1"; }

# 1. generate from the published folder.
"$BIN/maskgrpo" generate --config "$WORK/generate.textproto" --checkpoint "$WORK/fx/showo" --out "$WORK/g1.png" \
  --prompt "a photo" > "$WORK/g1.log" 2>&1 || { cat "$WORK/g1.log"; fail "generate from the Show-o folder"; }
size=$(png_size "$WORK/g1.png") || fail "g1.png is not a PNG"
echo "generate: $WORK/g1.png is $size"

# 1b. `maskgrpo convert` of the pickled checkpoint: the folder with the safetensors file
#     generates the very same PNG (same weights, same seed).
mkdir -p "$WORK/showo_st"
cp "$WORK/fx/showo/config.json" "$WORK/showo_st/"
"$BIN/maskgrpo" convert --in "$WORK/fx/showo/pytorch_model.bin" --out "$WORK/showo_st/pytorch_model.safetensors" \
  > "$WORK/convert.log" 2>&1 || { cat "$WORK/convert.log"; fail "convert"; }
"$BIN/maskgrpo" generate --config "$WORK/generate.textproto" --checkpoint "$WORK/showo_st" --out "$WORK/g1st.png" \
  --prompt "a photo" > "$WORK/g1st.log" 2>&1 || { cat "$WORK/g1st.log"; fail "generate from the converted folder"; }
cmp -s "$WORK/g1.png" "$WORK/g1st.png" || fail "the converted checkpoint generates other images than the pickled one"
echo "convert: same images from pytorch_model.safetensors as from pytorch_model.bin"

# 2. the distributed system on the Show-o world.
cat > "$WORK/learner.textproto" <<CFG
train {
  init_model: "$WORK/fx/showo"
  $WORLD
  group_size: 4 groups_per_update: 2 updates: 2
  rollout { steps: 4 guidance: 1.75 }
  learner { minibatches: 1 }
  filter { enabled: false }
  eval_every: 0 checkpoint_every: 1
}
max_policy_lag: 1
linger_ms: 1500
CFG
cat > "$WORK/worker.textproto" <<CFG
runtime { threads: 1 }
leases_per_request: 2
$WORLD
CFG
cat > "$WORK/reward.textproto" <<CFG
scorers { name: "torchscript" weight: 1.0 model_path: "$WORK/brightness.pt" }
CFG
cat > "$WORK/launch.textproto" <<CFG
learner_config: "$WORK/learner.textproto"
worker_config: "$WORK/worker.textproto"
reward_config: "$WORK/reward.textproto"
workers: 2
reward_servers: 1
learner_threads: 1
worker_threads: 1
CFG
"$BIN/maskgrpo" launch --config "$WORK/launch.textproto" --out "$WORK/run" > "$WORK/launch.log" 2>&1 \
  || { cat "$WORK/launch.log"; tail -n 30 "$WORK"/run/logs/*.log; fail "launch on the Show-o world exited with $?"; }
[ -f "$WORK/run/model.safetensors" ] || fail "no final model"
updates=$(grep -c '"kind":"update"' "$WORK/run/metrics.jsonl")
[ "$updates" -eq 2 ] || fail "expected 2 update lines in metrics.jsonl, got $updates"
grep -q "skipped: world 'showo' has no built-in judge" "$WORK/run/logs/learner.log" \
  || fail "the learner did not say why it skipped the held-out eval"
# Every worker that submitted groups applied weights first. (A worker that starts after the
# other one has finished the 2 updates submits nothing and may never fetch weights: asking
# worker 0 in particular was flaky under the sanitizers' slowdown.)
submitted=0
for log in "$WORK"/run/logs/rollout_worker*.log; do
  if grep -Eq "submitted [1-9][0-9]* groups" "$log"; then
    submitted=$((submitted + 1))
    grep -q "weights of version" "$log" || fail "$(basename "$log" .log) submitted groups without applying weights"
  fi
done
[ "$submitted" -ge 1 ] || fail "no worker submitted a group"
echo "launch: 2 updates on the Show-o world"

# 3. generate from the trained checkpoint (the project's safetensors with the Show-o config).
"$BIN/maskgrpo" generate --config "$WORK/generate.textproto" --checkpoint "$WORK/run/model.safetensors" \
  --out "$WORK/g2.png" --prompt "a photo b" > "$WORK/g2.log" 2>&1 || { cat "$WORK/g2.log"; fail "generate from the trained model"; }
[ "$(png_size "$WORK/g2.png")" = "$size" ] || fail "g2.png has another size than g1.png"

# 3b. eval on the prompt file's held-out prompts with the reward server's scorers in process.
cat > "$WORK/eval.textproto" <<CFG
runtime { threads: 1 }
sampling { steps: 4 guidance: 1.75 }
images_per_prompt: 2
prompts_per_task: 2
$WORLD
reward_config: "$WORK/reward.textproto"
CFG
"$BIN/maskgrpo" eval --config "$WORK/eval.textproto" --checkpoint "$WORK/run/model.safetensors" --out "$WORK/eval" \
  > "$WORK/eval.log" 2>&1 || { cat "$WORK/eval.log"; fail "eval with the reward server's scorers"; }
"$PY" - "$WORK/eval/eval.json" "$WORK/eval/results.jsonl" <<'PYEOF' || { cat "$WORK/eval.log"; fail "eval.json"; }
import json, sys
j = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]
means = j["reward_means"]
assert "overall" in means and "torchscript" in means["overall"], means
tags = [t for t in means if t != "overall"]
assert tags, means
for t in tags:  # each task's mean is the mean of its images' brightness
    vals = [l["torchscript"] for l in lines if l["tag"] == t]
    assert abs(sum(vals) / len(vals) - means[t]["torchscript"]) < 1e-4, (t, vals, means[t])
assert abs(j["overall"] - sum(means[t]["reward"] for t in tags) / len(tags)) < 1e-6
print("eval: %d images, %d tasks, overall reward %.4f" % (len(lines), len(tags), j["overall"]))
PYEOF
sed -i '/reward_config/d' "$WORK/eval.textproto"
if "$BIN/maskgrpo" eval --config "$WORK/eval.textproto" --checkpoint "$WORK/run/model.safetensors" --out "$WORK/eval2" \
    > "$WORK/eval2.log" 2>&1; then
  fail "eval of a world without a judge and without scorers did not fail"
fi
grep -q "no built-in judge" "$WORK/eval2.log" || { cat "$WORK/eval2.log"; fail "the refusal does not say why"; }

# 4. A world mismatch is named, not sampled with.
if "$BIN/maskgrpo" generate --checkpoint "$WORK/run/model.safetensors" --out "$WORK/g3.png" > "$WORK/g3.log" 2>&1; then
  fail "a Show-o model was accepted by the ShapeWorld world"
fi
grep -q "does not fit ShapeWorld" "$WORK/g3.log" || { cat "$WORK/g3.log"; fail "the mismatch error does not say what is wrong"; }
echo "showo_service_test: ok"
