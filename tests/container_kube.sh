# The cpu-demo Kubernetes overlay through `podman kube play` (sourced by container_test.sh
# kube), as far as podman goes: the rendered manifests (kubectl kustomize, or the minimal
# renderer where kubectl is missing) are converted by deploy/k8s/podman_play.py, which
# says on stderr what it changes or drops; the learner and reward server pods are played
# first, then the two workers with hostAliases for the Services' names.
# Checks: pods and containers start, uid 10001 with a read-only root file system, the
# learner's run folder is its PersistentVolumeClaim, the (converted) probes pass, the workers'
# /metrics answer, and the workers reach the learner and the reward server (the learner
# trains and publishes a new version).
PY=/usr/bin/python3
if command -v kubectl > /dev/null; then
  kubectl kustomize deploy/k8s/overlays/cpu-demo > "$WORK/rendered.yaml" || fatal "kubectl kustomize cpu-demo"
  echo "rendered with kubectl kustomize"
else
  "$PY" deploy/k8s/render_minimal.py deploy/k8s/overlays/cpu-demo > "$WORK/rendered.yaml" ||
    fatal "render_minimal.py cpu-demo"
  echo "rendered with render_minimal.py (kubectl not installed: the overlay's patches are not applied)"
fi
# One learner stream per version (the shipped 2 would serve both workers itself): the second
# worker must fetch from the first one's relay.
sed -i 's/weights_fanout: 2$/weights_fanout: 1/' "$WORK/rendered.yaml"
grep -q 'weights_fanout: 1$' "$WORK/rendered.yaml" || fatal "could not set weights_fanout 1 in the rendered manifests"
NET="maskgrpo-kube-ct$$"
SUFFIX=ct   # every object gets "-ct": nothing here collides with a user's stack of these manifests
podman network create "$NET" > /dev/null || fatal "podman network create"
CLEANUP+=("podman network rm -f $NET")
"$PY" deploy/k8s/podman_play.py --only learner,reward-server --name-suffix "$SUFFIX" < "$WORK/rendered.yaml" > "$WORK/stage1.yaml" ||
  fatal "podman_play.py (learner, reward server)"
# kube down leaves the claim and the ConfigMap's volume: remove_leftovers (container_test.sh)
# takes them, by their -ct names.
CLEANUP=("podman kube down '$WORK/stage1.yaml'" "${CLEANUP[@]}")
start=$SECONDS
# podman logs "unable to get systemd connection to add healthchecks" here: these machines
# have no systemd, so health checks run only when asked (podman healthcheck run, below).
podman kube play --network "$NET" "$WORK/stage1.yaml" > "$WORK/play1.log" 2>&1 ||
  { grep -v systemd "$WORK/play1.log" | tail -20; fatal "podman kube play (learner, reward server)"; }
LEARNER=maskgrpo-learner-$SUFFIX-pod-0-learner
REWARD=maskgrpo-reward-server-$SUFFIX-pod-0-reward-server
CLAIM=run-maskgrpo-learner-0-$SUFFIX
pod_ip() { podman inspect "$(podman pod inspect "$1" --format '{{.InfraContainerID}}')" \
  --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'; }
LEARNER_IP=$(pod_ip "maskgrpo-learner-$SUFFIX-pod-0")
REWARD_IP=$(pod_ip "maskgrpo-reward-server-$SUFFIX-pod-0")
[ -n "$LEARNER_IP" ] && [ -n "$REWARD_IP" ] && pass "learner pod ($LEARNER_IP) and reward server pod ($REWARD_IP) started" ||
  fatal "pods have no address: learner '$LEARNER_IP', reward server '$REWARD_IP'"

out=$(podman exec "$LEARNER" id -u 2>&1)
[ "$out" = "10001" ] && pass "pods run as uid 10001 (securityContext)" || fail "learner uid: $out"
# As root inside the container, so that only the read-only mount can refuse the write.
out=$(podman exec -u 0 "$LEARNER" touch /probe-rootfs 2>&1)
[ "$(podman inspect "$LEARNER" --format '{{.HostConfig.ReadonlyRootfs}}')" = "true" ] && grep -q "Read-only file system" <<<"$out" &&
  pass "read-only root file system (readOnlyRootFilesystem)" || fail "root file system not read-only: $out"
podman exec "$LEARNER" touch /var/lib/maskgrpo/run/.probe > /dev/null 2>&1 && podman volume exists "$CLAIM" &&
  pass "the run folder is the writable claim $CLAIM" || fail "run folder not writable or claim $CLAIM missing"
for c in "$LEARNER" "$REWARD"; do
  if wait_for 120 "$c probe" -- podman healthcheck run "$c"; then
    pass "$c: probe passes (grpc probe as maskgrpo_health_probe)"
  else
    fail "$c probe never passed: $(podman logs "$c" 2>&1 | tail -5)"
  fi
done
figure "kube play to learner and reward server probes passing $((SECONDS - start)) s"

"$PY" deploy/k8s/podman_play.py --only rollout-worker --name-suffix "$SUFFIX" --host "maskgrpo-learner=$LEARNER_IP" \
  --host "maskgrpo-reward-server=$REWARD_IP" < "$WORK/rendered.yaml" > "$WORK/stage2.yaml" ||
  fatal "podman_play.py (workers)"
CLEANUP=("podman kube down '$WORK/stage2.yaml'" "${CLEANUP[@]}")
podman kube play --network "$NET" "$WORK/stage2.yaml" > "$WORK/play2.log" 2>&1 ||
  { grep -v systemd "$WORK/play2.log" | tail -20; fatal "podman kube play (workers)"; }
workers=$(podman ps --format '{{.Names}}' | grep -c "^maskgrpo-rollout-worker-$SUFFIX-pod-[0-9]*-rollout-worker$")
[ "$workers" -eq 2 ] && pass "2 rollout worker pods (replicas: 2)" || fail "$workers rollout worker pods running, not 2"
for n in 0 1; do
  ip=$(pod_ip "maskgrpo-rollout-worker-$SUFFIX-pod-$n")
  wait_for 60 "worker $n /metrics" -- curl -fsS "http://$ip:9100/metrics" &&
    pass "worker $n answers GET /metrics (its liveness probe, run from the host)" || fail "worker $n /metrics at $ip"
done
learner_version() { curl -fsS "http://$LEARNER_IP:9100/metrics" | awk '$1 == "maskgrpo_learner_policy_version" {print int($2)}'; }
trained() { [ "$(learner_version)" -ge 1 ]; }
start=$SECONDS
if wait_for 300 "learner version >= 1" -- trained; then
  pass "workers reach the learner and the reward server: version $(learner_version) after $((SECONDS - start)) s"
else
  fail "no update published: $(podman logs "maskgrpo-rollout-worker-$SUFFIX-pod-0-rollout-worker" 2>&1 | tail -5)"
fi
# Weight fan-out: each worker advertises its relay at its own pod IP (relay_advertise "auto"),
# and the other worker fetches a version from it.
for n in 0 1; do
  ip=$(pod_ip "maskgrpo-rollout-worker-$SUFFIX-pod-$n")
  line=$(podman logs "maskgrpo-rollout-worker-$SUFFIX-pod-$n-rollout-worker" 2>&1 | grep "weights relay on" | head -1)
  grep -q "weights relay on $ip:50061 " <<<"$line" && pass "worker $n advertises its relay at its pod IP: ${line##*] }" ||
    fail "worker $n (pod IP $ip) relay: '$line'"
done
relay_fetches() {
  curl -fsS "http://$LEARNER_IP:9100/metrics" | awk '$1 == "maskgrpo_learner_weights_sources_total{source=\"relay\"}" {print int($2)}'
}
fetched_from_relay() { [ "$(relay_fetches)" -ge 1 ]; }
if wait_for 180 "a worker fetches weights from the other's relay" -- fetched_from_relay; then
  pass "a worker fetched weights from the other's relay ($(relay_fetches) times, weights_fanout 1)"
else
  fail "no weights fetched from a relay: $(curl -fsS "http://$LEARNER_IP:9100/metrics" | grep weights_sources)"
fi
echo "not exercised by podman: Services (replaced by hostAliases), the scheduler, HorizontalPodAutoscaler,"
echo "PodDisruptionBudgets, readiness gating, the Namespace's Pod Security admission, StatefulSet semantics"
finish
