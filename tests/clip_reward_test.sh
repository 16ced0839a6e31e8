#!/usr/bin/env bash
# A CLIP reward through the whole system: `maskgrpo launch` on ShapeWorld with the reward
# server mixing a tiny random CLIP score (clip_score, the Mask-GRPO paper's reward) into the
# binary verdict at a small weight. The scorer's values and the image statistics reach the
# learner's metrics.jsonl (per-update means) and its /metrics.
#   usage: clip_reward_test.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1"
SRC="$2"
WORK=$(mktemp -d)
trap 'pkill -KILL -f "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3

"$PY" "$SRC/core/clip/testdata/tiny_clip_fixture.py" "$WORK/clip" || fail "the fixture needs Debian's python3-torch"
cat > "$WORK/reward.textproto" <<CFG
scorers { name: "shapeworld_binary" weight: 1.0 }
scorers {
  name: "clip_score" weight: 0.01
  model_path: "$WORK/clip/clip.safetensors" tokenizer_path: "$WORK/clip/bpe.txt"
  architecture: "custom" vision_heads: 2 text_heads: 2
}
CFG
cat > "$WORK/learner.textproto" <<CFG
train {
  init_model: "$SRC/models/shapeworld_base.safetensors"
  group_size: 4 groups_per_update: 2 updates: 2
  rollout { steps: 4 }
  learner { minibatches: 1 }
  eval { prompts_per_task: 1 images_per_prompt: 1 grid_images: 6 sampling { steps: 4 } }
  eval_every: 0 checkpoint_every: 1
}
max_policy_lag: 1
linger_ms: 1500
CFG
cat > "$WORK/launch.textproto" <<CFG
learner_config: "$WORK/learner.textproto"
worker_config: "$SRC/configs/rollout_worker.textproto"
reward_config: "$WORK/reward.textproto"
workers: 1
reward_servers: 1
learner_threads: 1
worker_threads: 1
CFG
"$BIN/maskgrpo" launch --config "$WORK/launch.textproto" --out "$WORK/run" > "$WORK/launch.log" 2>&1 \
  || { cat "$WORK/launch.log"; tail -n 20 "$WORK"/run/logs/*.log; fail "launch with a CLIP reward exited with $?"; }
"$PY" - "$WORK/run/metrics.jsonl" <<'PYEOF' || fail "metrics.jsonl lacks the reward components"
import json, sys
updates = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"update"' in l]
assert len(updates) == 2, len(updates)
for u in updates:
    c = u["components"]
    for name in ("clip_score", "shapeworld_binary", "stat/brightness", "stat/dark_fraction", "stat/edge_density",
                 "stat/color_entropy", "stat/objects", "stat/fragments"):
        assert name in c, (name, sorted(c))
    # the reward the learner trained on is the binary verdict plus 0.01 x the CLIP score
    assert abs(u["reward_mean"] - (c["shapeworld_binary"] + 0.01 * c["clip_score"])) < 1e-6, (u["reward_mean"], c)
print("components per update:", sorted(updates[-1]["components"]))
PYEOF
echo "clip_reward_test: ok"
