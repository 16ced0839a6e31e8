#!/usr/bin/env bash
# `maskgrpo launch` end to end with a tiny run: children start on free ports, the run
# finishes, report.html is written; then a run in which a worker is killed: the launcher
# stops everything and names the dead child and its log.
#   usage: launch_test.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1"
SRC="$2"
WORK=$(mktemp -d)
trap 'pkill -KILL -f "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$WORK/learner.textproto" <<CFG
train {
  init_model: "$SRC/models/shapeworld_base.safetensors"
  group_size: 4 groups_per_update: 2 updates: 3
  rollout { steps: 4 }
  learner { minibatches: 1 }
  eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 6 sampling { steps: 4 } }
  eval_every: 0 checkpoint_every: 1
}
max_policy_lag: 1
linger_ms: 1500
CFG
cat > "$WORK/launch.textproto" <<CFG
learner_config: "$WORK/learner.textproto"
worker_config: "$SRC/configs/rollout_worker.textproto"
reward_config: "$SRC/configs/reward_server.textproto"
workers: 2
reward_servers: 1
learner_threads: 1
worker_threads: 1
CFG

# 1. A whole run.
"$BIN/maskgrpo" launch --config "$WORK/launch.textproto" --out "$WORK/run" > "$WORK/launch.log" 2>&1 \
  || { cat "$WORK/launch.log"; fail "launch exited with $?"; }
grep -q "version 3/3" "$WORK/launch.log" || { cat "$WORK/launch.log"; fail "no progress line reached version 3/3"; }
[ -f "$WORK/run/model.safetensors" ] || fail "no final model"
grep -q "Held-out GenEval-style scores" "$WORK/run/report.html" || fail "report.html lacks the per-task table"
grep -q "data:image/png;base64" "$WORK/run/report.html" || fail "report.html lacks the grids"
grep -q "<svg" "$WORK/run/report.html" || fail "report.html lacks the charts"
for name in reward_server0 learner rollout_worker0 rollout_worker1; do
  [ -s "$WORK/run/logs/$name.log" ] || fail "no log for $name"
done
echo "launch: whole run ok"

# 2. A worker dies: the launcher stops the others and names it.
sed -i 's/updates: 3/updates: 200/' "$WORK/learner.textproto"
"$BIN/maskgrpo" launch --config "$WORK/launch.textproto" --out "$WORK/run2" > "$WORK/launch2.log" 2>&1 &
LAUNCHER=$!
for _ in $(seq 1 600); do
  grep -q "weights of version" "$WORK/run2/logs/rollout_worker0.log" 2>/dev/null && break
  sleep 0.2
done
VICTIM=$(pgrep -f "worker-id rollout_worker0 .*$WORK/run2" | head -n 1)
[ -n "$VICTIM" ] || { cat "$WORK/launch2.log"; fail "could not find rollout_worker0"; }
kill -9 "$VICTIM"
wait "$LAUNCHER"
rc=$?
[ "$rc" -ne 0 ] || fail "the launcher exited 0 after a worker was killed"
grep -q "rollout_worker0 killed by signal 9" "$WORK/launch2.log" || { cat "$WORK/launch2.log"; fail "the dead child is not named"; }
grep -q "rollout_worker0.log" "$WORK/launch2.log" || fail "the dead child's log is not named"
sleep 1
if pgrep -f "$WORK/run2" > /dev/null; then fail "children of the stopped launch are still running"; fi
echo "launch: dead child reported (exit $rc), everything stopped"

# 3. The settings that keep a finished learner or worker up (for Kubernetes) would hold a
# launch forever: refused by name before anything starts.
sed 's/^linger_ms: 1500$/linger_ms: -1/' "$WORK/learner.textproto" > "$WORK/learner_forever.textproto"
grep -qx 'linger_ms: -1' "$WORK/learner_forever.textproto" || fail "could not set linger_ms -1"
{ cat "$SRC/configs/rollout_worker.textproto"; echo "stay_after_finish: true"; } > "$WORK/worker_stays.textproto"
for case in learner worker; do
  if [ "$case" = learner ]; then
    sed "s#^learner_config: .*#learner_config: \"$WORK/learner_forever.textproto\"#" "$WORK/launch.textproto" > "$WORK/launch3.textproto"
    want="learner_forever.textproto: linger_ms -1"
  else
    sed "s#^worker_config: .*#worker_config: \"$WORK/worker_stays.textproto\"#" "$WORK/launch.textproto" > "$WORK/launch3.textproto"
    want="worker_stays.textproto: stay_after_finish"
  fi
  timeout 60 "$BIN/maskgrpo" launch --config "$WORK/launch3.textproto" --out "$WORK/run3_$case" > "$WORK/launch3.log" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$WORK/launch3.log"; fail "launch with the $case kept up after the run: exit $rc"; }
  grep -q "$want" "$WORK/launch3.log" || { cat "$WORK/launch3.log"; fail "the refusal does not name '$want'"; }
  [ ! -e "$WORK/run3_$case" ] || fail "the refused launch ($case) made its run folder"
done
echo "launch: linger_ms -1 and stay_after_finish refused by name"
