#!/usr/bin/env bash
# Every process's /metrics passes `promtool check metrics` and carries the series the
# dashboards need, scraped from the real binaries during a tiny run.
#   usage: metrics_test.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1"
SRC="$2"
WORK=$(mktemp -d)
trap 'pkill -TERM -f "$WORK" 2>/dev/null; sleep 1; pkill -KILL -f "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v promtool > /dev/null || fail "promtool is not installed (scripts/install_deps.sh installs it)"

cat > "$WORK/learner.textproto" <<CFG
train {
  init_model: "$SRC/models/shapeworld_base.safetensors"
  group_size: 4 groups_per_update: 2 updates: 50
  rollout { steps: 4 }
  learner { minibatches: 1 }
  eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 0 sampling { steps: 4 } }
  eval_every: 0 checkpoint_every: 10
}
CFG
port() {  # waits for NAME's port file, prints the port of KIND (grpc or metrics)
  for _ in $(seq 1 600); do
    [ -f "$WORK/$1.port" ] && { grep "^$2=" "$WORK/$1.port" | cut -d= -f2; return; }
    sleep 0.1
  done
  fail "$1 did not start: $(tail -5 "$WORK/$1.log")"
}
"$BIN/reward_server" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --port-file "$WORK/reward.port" > "$WORK/reward.log" 2>&1 &
"$BIN/learner" --config "$WORK/learner.textproto" --out "$WORK/run" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --port-file "$WORK/learner.port" > "$WORK/learner.log" 2>&1 &
R=$(port reward grpc); L=$(port learner grpc)
"$BIN/rollout_worker" --learner "127.0.0.1:$L" --reward-servers "127.0.0.1:$R" --worker-id w0 --threads 1 \
  --metrics-listen 127.0.0.1:0 --port-file "$WORK/worker.port" > "$WORK/worker.log" 2>&1 &
W=$(port worker metrics)
for _ in $(seq 1 600); do
  grep -q "update    2/" "$WORK/learner.log" && break
  sleep 0.2
done
grep -q "update    2/" "$WORK/learner.log" || fail "no update in time: $(tail -5 "$WORK/learner.log")"

check() {  # NAME PORT required-series...
  local name=$1 p=$2; shift 2
  curl -sf "http://127.0.0.1:$p/metrics" > "$WORK/$name.metrics" || fail "$name: /metrics not served"
  promtool check metrics < "$WORK/$name.metrics" > "$WORK/$name.promtool" 2>&1 \
    || { cat "$WORK/$name.promtool"; fail "$name: promtool check metrics failed"; }
  for series in "$@"; do
    grep -q "^$series" "$WORK/$name.metrics" || fail "$name: no $series"
  done
  echo "$name: promtool ok, $(grep -c '^# TYPE' "$WORK/$name.metrics") metric families"
}
check reward_server "$(port reward metrics)" maskgrpo_reward_requests_total maskgrpo_reward_images_total \
  maskgrpo_reward_request_queue_seconds_bucket maskgrpo_reward_request_compute_seconds_bucket \
  maskgrpo_reward_batch_size_bucket maskgrpo_reward_queue_images
check learner "$(port learner metrics)" maskgrpo_learner_policy_version maskgrpo_learner_groups_total \
  maskgrpo_learner_step_seconds_bucket maskgrpo_learner_loss maskgrpo_learner_reward_mean maskgrpo_learner_reward_std \
  maskgrpo_learner_clip_fraction maskgrpo_learner_approx_kl maskgrpo_learner_staleness_versions_bucket \
  maskgrpo_learner_weights_sent_bytes_total maskgrpo_learner_eval_overall_score maskgrpo_learner_eval_task_score \
  maskgrpo_learner_component_mean maskgrpo_learner_run_finished \
  maskgrpo_learner_leases_released_total
check rollout_worker "$W" maskgrpo_worker_images_generated_total maskgrpo_worker_groups_generated_total \
  maskgrpo_worker_generation_seconds_bucket maskgrpo_worker_reward_request_seconds_bucket \
  maskgrpo_worker_weight_sync_bytes_total maskgrpo_worker_weight_sync_seconds_bucket maskgrpo_worker_policy_version \
  maskgrpo_worker_groups_total

# Every metric the Grafana dashboard and the alert rules query exists in the real output.
# (A metric family is declared by its "# TYPE" line even before its first sample.)
names=$(/usr/bin/python3 "$SRC/deploy/grafana/dashboard_metrics.py") || fail "dashboard_metrics.py failed"
[ -n "$names" ] || fail "dashboard_metrics.py found no metric names"
cat "$WORK"/*.metrics > "$WORK/all.metrics"
missing=0
for name in $names; do
  family=$(echo "$name" | sed -E 's/_(bucket|sum|count)$//')
  if ! grep -q -E "^$name[{ ]|^# TYPE $family " "$WORK/all.metrics"; then
    echo "dashboard/alerts query $name, which no process exposes"
    missing=1
  fi
done
[ $missing -eq 0 ] || fail "the dashboard or the alerts use metrics that do not exist"
echo "dashboard and alerts: $(echo "$names" | wc -w) metric names, all exposed"
