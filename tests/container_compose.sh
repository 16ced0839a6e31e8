# The Compose stack, run for real with podman-compose (sourced by container_test.sh compose).
# A copy of deploy/ with a short learner config (8 updates, a checkpoint every 2); the offline
# override builds Prometheus from Debian's package and runs 2 rollout workers; Grafana is left
# out (not packaged by Debian, and its image cannot be pulled here).
# Checks: every process is scraped by that Prometheus (up == 1 through its HTTP API), the alert
# rules load, `podman-compose down` keeps the run folder and a restarted learner resumes from
# it, and the learner reaches its target version and exits 0.

UPDATES=8
cp -r deploy "$WORK/deploy"
LEARNER_CONFIG="$WORK/deploy/compose/configs/learner.textproto"
sed -i -e "s/^  updates: .*/  updates: $UPDATES/" -e 's/^  checkpoint_every: .*/  checkpoint_every: 2/' \
  -e 's/^  eval_every: .*/  eval_every: 0/' "$LEARNER_CONFIG"
grep -q "updates: $UPDATES" "$LEARNER_CONFIG" || fatal "could not shorten $LEARNER_CONFIG"

start=$SECONDS
podman build -q -t maskgrpo-prometheus:debian -f "$WORK/deploy/compose/offline/prometheus.Dockerfile" \
  "$WORK/deploy/compose/offline" > "$WORK/prometheus-build.log" 2>&1 ||
  { tail -20 "$WORK/prometheus-build.log"; fatal "building the Debian Prometheus image"; }
figure "Prometheus image build $((SECONDS - start)) s"

PROJECT="maskgrpoct$$"
cd "$WORK/deploy/compose" || fatal "no compose folder"
compose() { podman-compose -p "$PROJECT" -f docker-compose.yml -f offline/docker-compose.offline.yml "$@"; }
SERVICES=(learner reward-server rollout-worker prometheus)
# podman-compose 1.0.3's down leaves the project's network behind.
CLEANUP+=("cd '$WORK/deploy/compose' && podman-compose -p $PROJECT -f docker-compose.yml -f offline/docker-compose.offline.yml down -v -t 0; podman network rm -f ${PROJECT}_default")
LEARNER="${PROJECT}_learner_1"
PROM="${PROJECT}_prometheus_1"

start=$SECONDS
compose up -d --no-build "${SERVICES[@]}" > "$WORK/up1.log" 2>&1 || { tail -30 "$WORK/up1.log"; fatal "podman-compose up"; }
running=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' ')
[ "$(wc -w <<<"$running")" -eq 5 ] && pass "5 containers up: $running" || fail "containers running: '$running' (expected 5)"

# Prometheus' own view of its targets: 1 learner, 1 reward server, 2 workers, itself.
targets_up() {
  podman exec "$PROM" curl -fsS http://localhost:9090/api/v1/targets > "$WORK/targets.json" 2> /dev/null || return 1
  /usr/bin/python3 - "$WORK/targets.json" <<'PYEOF'
import json, sys, collections
active = json.load(open(sys.argv[1]))["data"]["activeTargets"]
up = collections.Counter(t["labels"]["job"] for t in active if t["health"] == "up")
want = {"maskgrpo-learner": 1, "maskgrpo-reward-server": 1, "maskgrpo-rollout-worker": 2, "prometheus": 1}
print(dict(up))
sys.exit(0 if all(up[j] >= n for j, n in want.items()) and len(active) == sum(want.values()) else 1)
PYEOF
}
if wait_for 180 "every target up in Prometheus" -- targets_up; then
  pass "Prometheus scrapes every process, up == 1: $(targets_up)"
  figure "compose up to every target scraped $((SECONDS - start)) s"
else
  fail "Prometheus targets: $(cat "$WORK/targets.json" 2> /dev/null | head -c 2000)"
fi
out=$(podman exec "$PROM" curl -fsS 'http://localhost:9090/api/v1/query?query=sum(up)' 2>&1)
grep -q '"value":\[[0-9.]*,"5"\]' <<<"$out" && pass "query sum(up) = 5" || fail "sum(up): $out"
rules_loaded=$(podman exec "$PROM" curl -fsS http://localhost:9090/api/v1/rules 2> /dev/null |
  /usr/bin/python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
rules_file=$(grep -c '^ *- alert:' "$WORK/deploy/prometheus/alerts.yml")
[ -n "$rules_loaded" ] && [ "$rules_loaded" -eq "$rules_file" ] && pass "alert rules loaded: $rules_loaded of $rules_file" ||
  fail "alert rules loaded: '$rules_loaded' of $rules_file"

# Train a little, then take the stack down mid-run: SIGTERM makes the learner checkpoint.
version() {
  podman exec "$PROM" curl -fsS 'http://localhost:9090/api/v1/query?query=maskgrpo_learner_policy_version' 2> /dev/null |
    /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else -1)'
}
at_least_version() { [ "$(version)" -ge "$1" ]; }
start=$SECONDS
if wait_for 600 "learner version >= 2 (seen by Prometheus)" -- at_least_version 2; then
  pass "the learner trains: version $(version) after $((SECONDS - start)) s"
else
  fail "the learner did not reach version 2: $(podman logs "$LEARNER" 2>&1 | tail -5)"
fi
compose down -t 120 > "$WORK/down.log" 2>&1 || fail "podman-compose down: $(tail -5 "$WORK/down.log")"
podman volume exists "${PROJECT}_learner-run" && pass "the run folder volume survives podman-compose down" ||
  fail "volume ${PROJECT}_learner-run is gone after down"
stopped_at=$(podman run --rm --no-healthcheck -v "${PROJECT}_learner-run:/data:ro" "$IMAGE" ls /data/checkpoints 2>&1 | tr '\n' ' ')
grep -qE '(^| )v0' <<<"$stopped_at" && pass "checkpoints in the volume after down: $stopped_at" ||
  fail "no checkpoints in the volume after down: $stopped_at"

start=$SECONDS
compose up -d --no-build "${SERVICES[@]}" > "$WORK/up2.log" 2>&1 || { tail -30 "$WORK/up2.log"; fatal "podman-compose up (again)"; }
resumed() { podman logs "$LEARNER" 2>&1 | grep -q "resumed from"; }
if wait_for 120 "the learner resumes" -- resumed; then
  line=$(podman logs "$LEARNER" 2>&1 | grep "resumed from" | tail -1)
  v=$(grep -oE 'at version [0-9]+' <<<"$line" | grep -oE '[0-9]+')
  [ "${v:-0}" -ge 2 ] && pass "the restarted learner resumes from the run folder: ${line##*] }" ||
    fail "resumed at version '${v}': $line"
else
  fail "no resume: $(podman logs "$LEARNER" 2>&1 | tail -5)"
fi
learner_exited() { [ "$(podman inspect "$LEARNER" --format '{{.State.Status}}')" = "exited" ]; }
if wait_for 900 "the learner finishes $UPDATES updates" -- learner_exited; then
  code=$(podman inspect "$LEARNER" --format '{{.State.ExitCode}}')
  final=$(podman logs "$LEARNER" 2>&1 | grep "trained $UPDATES updates")
  [ "$code" = "0" ] && [ -n "$final" ] && pass "the learner reaches version $UPDATES and exits 0" ||
    fail "learner exit $code: $(podman logs "$LEARNER" 2>&1 | tail -5)"
  figure "compose: $UPDATES updates with 2 workers, resumed run $((SECONDS - start)) s after the second up"
else
  fail "the learner did not finish: $(podman logs "$LEARNER" 2>&1 | tail -5)"
fi
compose down -v -t 10 > /dev/null 2>&1
cd "$SRC" || true
finish
