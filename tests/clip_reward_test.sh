#!/usr/bin/env bash
# A CLIP reward through the whole system: `maskgrpo launch` on ShapeWorld with the reward
# server mixing a tiny random CLIP score (clip_score, the Mask-GRPO paper's reward) into the
# binary verdict at a small weight. The scorer's values and the image statistics reach the
# learner's metrics.jsonl (per-update means) and the run report.
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
grep -q "Reward components and image statistics" "$WORK/run/report.html" || fail "report.html lacks the components table"
grep -q "stat/brightness" "$WORK/run/report.html" || fail "report.html lacks the image statistics"

# `maskgrpo score`: PNG files against a prompt, in process and through a running server (the
# same scorers must give the same values both ways). CLIP alone: a bare prompt has no GenEval
# metadata for the ShapeWorld scorer.
grep -v shapeworld_binary "$WORK/reward.textproto" > "$WORK/clip_only.textproto"
"$PY" -c "
import sys, numpy as np
from PIL import Image
for i in range(2):
    a = np.zeros((64, 64, 3), np.uint8); a[8 + 8 * i:40, 16:48] = (200, 40 * i, 30)
    Image.fromarray(a).save(sys.argv[1] + '/img%d.png' % i)
" "$WORK" || fail "could not write the PNGs (python3-pil)"
"$BIN/maskgrpo" score --prompt "a photo of a red square" --reward-config "$WORK/clip_only.textproto" \
  "$WORK/img0.png" "$WORK/img1.png" > "$WORK/score_local.txt" 2> "$WORK/score_local.err" \
  || { cat "$WORK/score_local.err"; fail "score in process"; }
grep -q "clip_score" "$WORK/score_local.txt" && grep -q "stat/brightness" "$WORK/score_local.txt" \
  || { cat "$WORK/score_local.txt"; fail "score prints no components"; }
( "$BIN/reward_server" --config "$WORK/clip_only.textproto" --listen 127.0.0.1:0 --port-file "$WORK/reward.port" \
  > "$WORK/reward.log" 2>&1 & )
for _ in $(seq 1 300); do [ -s "$WORK/reward.port" ] && break; sleep 0.1; done
PORT=$(grep "^grpc=" "$WORK/reward.port" | cut -d= -f2)
[ -n "$PORT" ] || { cat "$WORK/reward.log"; fail "the reward server did not start"; }
"$BIN/maskgrpo" score --prompt "a photo of a red square" --server "127.0.0.1:$PORT" \
  "$WORK/img0.png" "$WORK/img1.png" > "$WORK/score_server.txt" 2> "$WORK/score_server.err" \
  || { cat "$WORK/score_server.err"; fail "score through the server"; }
diff "$WORK/score_local.txt" "$WORK/score_server.txt" || fail "in-process and server scores differ"
if "$BIN/maskgrpo" score --prompt x --reward-config "$WORK/clip_only.textproto" "$WORK/reward.textproto" > /dev/null 2> "$WORK/bad.err"; then
  fail "a non-PNG file was scored"
fi
grep -q "not a PNG file" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "the non-PNG error does not say so"; }
echo "score: $(cat "$WORK/score_local.txt" | head -1 | cut -c1-160)"
echo "clip_reward_test: ok"
