# The Compose stack, run for real with podman-compose (sourced by container_test.sh compose).
# A copy of deploy/ with a short learner config (8 updates, a checkpoint every 2); the offline
# override builds Prometheus from Debian's package and runs 2 rollout workers; Grafana is left
# out (not packaged by Debian, and its image cannot be pulled here).
# Checks: every process is scraped by that Prometheus (up == 1 through its HTTP API), the alert
# rules load, a stopped learner (SIGTERM) writes its checkpoint, `podman-compose down` keeps
# the run folder and a restarted learner resumes from it, the learner reaches its target
# version and exits 0, and the finished stack stays down (workers exit 0, nothing restarts).
# (podman-compose 1.0.3's up and down exit 0 whatever happened: the state is checked instead.)

UPDATES=8
cp -r deploy "$WORK/deploy"
LEARNER_CONFIG="$WORK/deploy/compose/configs/learner.textproto"
# No periodic checkpoint before the end: only the one written on SIGTERM can explain a resume.
# weights_fanout 1: one learner stream per version, so the second worker fetches from the first.
sed -i -e "s/^  updates: .*/  updates: $UPDATES/" -e 's/^  checkpoint_every: .*/  checkpoint_every: 100/' \
  -e 's/^  eval_every: .*/  eval_every: 0/' -e 's/^weights_fanout: .*/weights_fanout: 1/' "$LEARNER_CONFIG"
for line in "  updates: $UPDATES" "  checkpoint_every: 100" "  eval_every: 0" "weights_fanout: 1"; do
  grep -qx "$line" "$LEARNER_CONFIG" || fatal "could not set '$line' in $LEARNER_CONFIG"
done
# The test reaches Prometheus through podman exec: no host port to collide with.
sed -i '/^    ports: \["9090:9090"\]$/d' "$WORK/deploy/compose/docker-compose.yml"
grep -q '9090:9090' "$WORK/deploy/compose/docker-compose.yml" && fatal "could not unpublish Prometheus' port"

start=$SECONDS
podman build -q -t maskgrpo-prometheus:debian -f "$WORK/deploy/compose/offline/prometheus.Dockerfile" \
  "$WORK/deploy/compose/offline" > "$WORK/prometheus-build.log" 2>&1 ||
  { tail -20 "$WORK/prometheus-build.log"; fatal "building the Debian Prometheus image"; }
figure "Prometheus image build $((SECONDS - start)) s"

PROJECT="maskgrpoct$$"   # container_test.sh's remove_leftovers knows the prefix
cd "$WORK/deploy/compose" || fatal "no compose folder"
compose() { podman-compose -p "$PROJECT" -f docker-compose.yml -f offline/docker-compose.offline.yml "$@"; }
SERVICES=(learner reward-server rollout-worker prometheus)
# podman-compose 1.0.3's down leaves the project's network behind.
CLEANUP+=("cd '$WORK/deploy/compose' && podman-compose -p $PROJECT -f docker-compose.yml -f offline/docker-compose.offline.yml down -v -t 0; podman network rm -f ${PROJECT}_default")
LEARNER="${PROJECT}_learner_1"
PROM="${PROJECT}_prometheus_1"

start=$SECONDS
compose up -d --no-build "${SERVICES[@]}" > "$WORK/up1.log" 2>&1
running=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | sort | tr '\n' ' ')
[ "$(wc -w <<<"$running")" -eq 5 ] && pass "5 containers up: $running" ||
  { tail -30 "$WORK/up1.log"; fatal "containers running: '$running' (expected 5)"; }

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
[ -n "$rules_loaded" ] && [ "$rules_file" -gt 0 ] && [ "$rules_loaded" -eq "$rules_file" ] &&
  pass "alert rules loaded: $rules_loaded of $rules_file" ||
  fail "alert rules loaded: '$rules_loaded' of $rules_file"

# Train a little, then take the stack down mid-run: SIGTERM makes the learner checkpoint.
version() {
  podman exec "$PROM" curl -fsS 'http://localhost:9090/api/v1/query?query=maskgrpo_learner_policy_version' 2> /dev/null |
    /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else -1)'
}
at_least_version() { [ "$(version)" -ge "$1" ]; }
start=$SECONDS
if wait_for 300 "learner version >= 2 (seen by Prometheus)" -- at_least_version 2; then
  pass "the learner trains: version $(version) after $((SECONDS - start)) s"
else
  fail "the learner did not reach version 2: $(podman logs "$LEARNER" 2>&1 | tail -5)"
fi
# Weight fan-out between the containers: a worker advertises its relay at its own address
# (relay_advertise "auto") and the other fetches from it.
relay_fetches() {
  podman exec "$PROM" curl -fsS 'http://localhost:9090/api/v1/query?query=sum(maskgrpo_learner_weights_sources_total%7Bsource%3D%22relay%22%7D)' 2> /dev/null |
    /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else -1)'
}
fetched_from_relay() { [ "$(relay_fetches)" -ge 1 ]; }
if wait_for 180 "a worker fetches weights from the other's relay" -- fetched_from_relay; then
  pass "a worker fetched weights from the other's relay ($(relay_fetches) times, weights_fanout 1)"
else
  fail "no weights fetched from a relay ($(relay_fetches)): $(podman logs "${PROJECT}_rollout-worker_1" 2>&1 | grep -i relay | tail -3)"
fi
# SIGTERM to the learner alone first (podman-compose 1.0.3 ignores stop_grace_period, so the
# grace is given here): it finishes its step, writes a checkpoint and exits 0.
podman stop -t 120 "$LEARNER" > /dev/null 2>&1
code=$(podman inspect "$LEARNER" --format '{{.State.ExitCode}}')
line=$(podman logs "$LEARNER" 2>&1 | grep "checkpoint written" | tail -1)
[ "$code" = "0" ] && [ -n "$line" ] && pass "SIGTERM: the learner checkpoints and exits 0 (${line##*] })" ||
  fail "learner stop: exit $code: $(podman logs "$LEARNER" 2>&1 | tail -3)"
compose down -t 30 > "$WORK/down.log" 2>&1
[ -z "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")" ] && pass "podman-compose down removes the containers" ||
  fail "containers left after down: $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}')"
podman volume exists "${PROJECT}_learner-run" && pass "the run folder volume survives podman-compose down" ||
  fail "volume ${PROJECT}_learner-run is gone after down"
stopped_at=$(podman run --rm --no-healthcheck -v "${PROJECT}_learner-run:/data:ro" "$IMAGE" ls /data/checkpoints 2>&1 | tr '\n' ' ')
grep -qE '(^| )v0' <<<"$stopped_at" && pass "checkpoints in the volume after down: $stopped_at" ||
  fail "no checkpoints in the volume after down: $stopped_at"

start=$SECONDS
compose up -d --no-build "${SERVICES[@]}" > "$WORK/up2.log" 2>&1
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
if wait_for 600 "the learner finishes $UPDATES updates" -- learner_exited; then
  code=$(podman inspect "$LEARNER" --format '{{.State.ExitCode}}')
  final=$(podman logs "$LEARNER" 2>&1 | grep "trained $UPDATES updates")
  [ "$code" = "0" ] && [ -n "$final" ] && pass "the learner reaches version $UPDATES and exits 0" ||
    fail "learner exit $code: $(podman logs "$LEARNER" 2>&1 | tail -5)"
  figure "compose: $UPDATES updates with 2 workers, resumed run $((SECONDS - start)) s after the second up"
else
  fail "the learner did not finish: $(podman logs "$LEARNER" 2>&1 | tail -5)"
fi
# The finished stack stays down: both workers exit 0 on their own, nothing is restarted.
workers_exited() {
  [ "$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --filter status=exited \
    --format '{{.Names}}' | grep -c rollout-worker)" -eq 2 ]
}
if wait_for 60 "both workers exit" -- workers_exited; then
  codes=$(for w in "${PROJECT}_rollout-worker_1" "${PROJECT}_rollout-worker_2"; do
    podman inspect "$w" --format '{{.State.ExitCode}}'; done | tr '\n' ' ')
  [ "$codes" = "0 0 " ] && pass "both workers exit 0 once training is finished" || fail "worker exit codes: $codes"
else
  fail "workers still running after the learner finished"
fi
sleep 5
restarts=$(podman inspect "$LEARNER" --format '{{.RestartCount}} {{.State.Status}}')
[ "$restarts" = "0 exited" ] && pass "the finished learner stays down (restart: on-failure)" ||
  fail "learner after finishing: restarts/state '$restarts'"
compose down -v -t 10 > /dev/null 2>&1
cd "$SRC" || true
finish
