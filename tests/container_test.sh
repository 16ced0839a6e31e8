#!/usr/bin/env bash
# The deployment run for real with podman: the image built from docker/Dockerfile, the
# Compose stack, and the cpu-demo Kubernetes overlay through `podman kube play`.
#   usage: container_test.sh image|compose|kube SOURCE_DIR
# `image` builds maskgrpo:latest (ccache's folder is mounted into the build, so the host's
# build makes the image's compile mostly cache hits) and checks it as a user meets it;
# `compose` and `kube` need that image (ctest runs `image` first through a fixture). Every
# figure is printed on a line starting with "figure:". All podman state lives in
# $MASKGRPO_PODMAN_DIR (scripts/podman_env.sh); everything started here is removed on exit.
set -uo pipefail
PHASE="${1:?usage: container_test.sh image|compose|kube SOURCE_DIR}"
SRC=$(cd "${2:?usage: container_test.sh image|compose|kube SOURCE_DIR}" && pwd) || exit 1
cd "$SRC" || exit 1
# Rootful podman is what runs here; elsewhere the tests are reported as skipped (ctest's
# SKIP_RETURN_CODE 77), never as passed. scripts/install_deps.sh installs podman.
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: the container tests need root (rootful podman)"; exit 77; fi
if ! command -v podman > /dev/null || ! command -v podman-compose > /dev/null; then
  echo "SKIP: podman / podman-compose not installed (bash scripts/install_deps.sh)"; exit 77
fi
WORK=$(mktemp -d)
CLEANUP=()
cleanup() {
  local c
  for c in "${CLEANUP[@]}"; do eval "$c" > /dev/null 2>&1; done
  rm -rf "$WORK"
}
trap cleanup EXIT
failures=0
passes=0
pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }
fatal() { echo "FAIL: $1"; echo "container_test $PHASE: stopped after $passes passed"; exit 1; }
figure() { echo "figure: $1"; }
finish() {
  echo "container_test $PHASE: $passes passed, $failures failed"
  [ "$failures" -eq 0 ]
  exit $?
}
# wait_for SECONDS DESCRIPTION -- CMD...: polls CMD every 2 s until it succeeds.
wait_for() {
  local limit="$1" what="$2" start=$SECONDS
  shift 3
  until "$@" > /dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "timed out after ${limit} s waiting for: $what"
      return 1
    fi
    sleep 2
  done
}

# shellcheck source=../scripts/podman_env.sh
source scripts/podman_env.sh || fatal "podman is not set up (bash scripts/install_deps.sh installs it)"
IMAGE=localhost/maskgrpo:latest
# What an earlier run killed by ctest's timeout (no EXIT trap then) may have left behind;
# every name below is one only these tests use.
remove_leftovers() {
  podman ps -aq --filter name='^maskgrpoct' --filter name='^maskgrpo-ct-' | xargs -r podman rm -f -t 0
  podman pod ls -q --filter name='-ct-pod-' | xargs -r podman pod rm -f
  podman volume ls -q --filter name='^maskgrpoct' --filter name='-ct$' --filter name='-ct-0$' | xargs -r podman volume rm -f
  podman network ls -q --filter name='^maskgrpoct' --filter name='^maskgrpo-kube-ct' | xargs -r podman network rm -f
} > /dev/null 2>&1

image_phase() {
  local ccache_dir start
  ccache_dir=$(ccache -k cache_dir 2> /dev/null || echo "$HOME/.cache/ccache")
  mkdir -p "$ccache_dir"
  # The Dockerfile's source lines (from ARG MASKGRPO_SRC_DIR to COPY . .), built with the
  # layer cache at two new paths from the same files: each build must find the files at its
  # own path. podman keys WORKDIR and COPY by their unexpanded text, and once handed a CI
  # build another path's cached COPY layer (docker/Dockerfile says how it is kept apart).
  local probe="$WORK/path-probe" path rc
  mkdir -p "$probe/context/scripts" && echo 'echo built' > "$probe/context/scripts/build.sh"
  { echo 'FROM docker.io/library/debian:bookworm'
    sed -n '/^ARG MASKGRPO_SRC_DIR/,/^COPY \. \.$/p' docker/Dockerfile
    echo 'RUN test "$(bash scripts/build.sh)" = built'; } > "$probe/Dockerfile"
  grep -q '^COPY \. \.$' "$probe/Dockerfile" || fatal "docker/Dockerfile: no lines from ARG MASKGRPO_SRC_DIR to COPY . ."
  # The layers these builds make (not those taken from the cache) are removed on exit, the
  # newest first: an image with children cannot be removed.
  PROBE_LAYERS=""
  CLEANUP+=('for id in $PROBE_LAYERS; do podman rmi "$id"; done')
  for path in "/maskgrpo-ct-a-$$-$RANDOM" "/maskgrpo-ct-b-$$-$RANDOM"; do
    podman build --layers --build-arg MASKGRPO_SRC_DIR="$path" -f "$probe/Dockerfile" "$probe/context" \
      > "$probe/build.log" 2>&1
    rc=$?
    PROBE_LAYERS="$(awk '/^--> Using cache/ {cached = 1; next}
      /^--> [0-9a-f]+$/ {if (!cached) print $2; cached = 0}' "$probe/build.log" | tac | tr '\n' ' ')$PROBE_LAYERS"
    [ "$rc" -eq 0 ] || { tail -20 "$probe/build.log"; fatal "the Dockerfile's source lines built at $path (after a build at another path) do not find their files there"; }
  done
  pass "the source layers are cached per build path (two paths, each finds its files)"

  start=$SECONDS
  # --format docker keeps the Dockerfile's HEALTHCHECK (the OCI format drops it).
  # The build argument compiles at this checkout's path: CMake's unity sources hold absolute
  # paths, so only then are the host build's objects ccache hits (558-594 s in CI before, 142 s after).
  if ! podman build --format docker --layers -v "$ccache_dir:/root/.cache/ccache" \
      --build-arg MASKGRPO_SRC_DIR="$SRC" -t "$IMAGE" -f docker/Dockerfile . > "$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log"
    fatal "podman build -f docker/Dockerfile"
  fi
  pass "docker/Dockerfile builds"
  figure "image build $((SECONDS - start)) s"
  # Every build leaves its layers behind (0.5-1 GB each), and this store outlives a run on a
  # machine that keeps it: untagged layers nothing builds on, older than two days, go. The
  # layers this build used have children or are new, so they stay cached.
  local pruned
  pruned=$(podman image prune -f --filter until=48h 2> /dev/null | wc -l)
  figure "removed $pruned unused image layers older than 48 h from $MASKGRPO_PODMAN_DIR"
  figure "image size $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"

  local uid
  uid=$(podman run --rm --no-healthcheck "$IMAGE" id -u)
  [ "$uid" = "10001" ] && pass "runs as uid 10001" || fail "the image runs as uid '$uid', not 10001"
  podman image inspect "$IMAGE" --format '{{.Config.Healthcheck}}' | grep -q maskgrpo_health_probe &&
    pass "the image carries its HEALTHCHECK" || fail "no HEALTHCHECK in the image"
  out=$(podman run --rm --no-healthcheck "$IMAGE" stat -c '%u:%g' /var/lib/maskgrpo/run 2>&1)
  [ "$out" = "10001:10001" ] && pass "the run folder exists, owned by 10001 (Docker volumes take its owner)" ||
    fail "/var/lib/maskgrpo/run: '$out'"

  local exe out
  local rc
  for exe in learner rollout_worker reward_server maskgrpo maskgrpo_health_probe; do
    out=$(podman run --rm --no-healthcheck "$IMAGE" "$exe" --help 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && grep -q "^usage: $exe" <<<"$out" && pass "$exe --help" || fail "$exe --help (exit $rc): $out"
  done

  # Every config shipped in the image parses as its process's typed config.
  out=$(podman run --rm --no-healthcheck "$IMAGE" sh -c '
    n=0
    for f in $(find /etc/maskgrpo -name "*.textproto" | sort); do
      kind=$(basename "$f" .textproto)
      case "$kind" in learner|rollout_worker|reward_server|launch|train|eval|generate|pretrain) ;; *) continue ;; esac
      maskgrpo check-config "$kind" "$f" > /dev/null || { echo "BAD $f"; exit 1; }
      n=$((n + 1))
    done
    echo "checked $n"' 2>&1)
  # Every config file under configs/ that names a process kind is in the image and passes.
  local want
  want=$(find configs -name '*.textproto' | sed 's#.*/##; s#\.textproto$##' |
    grep -cxE 'learner|rollout_worker|reward_server|launch|train|eval|generate|pretrain')
  if grep -qx "checked $want" <<<"$out"; then pass "all $want configs in the image pass check-config"
  else fail "check-config in the image (expected $want): $out"; fi

  # Every /opt/maskgrpo path a shipped config (image, Compose, Kubernetes) or the Dockerfile
  # names exists in the image.
  local paths missing
  paths=$(grep -rhoE '/opt/maskgrpo/[A-Za-z0-9_./-]+' configs deploy/compose/configs deploy/k8s/base/configs \
    docker/Dockerfile | sort -u)
  missing=$(podman run --rm --no-healthcheck "$IMAGE" sh -c "for p in $(echo $paths); do [ -e \"\$p\" ] || echo \"\$p\"; done; echo END")
  [ -n "$paths" ] && [ "$missing" = "END" ] && pass "base model where the configs say ($(echo $paths))" ||
    fail "missing in the image: $missing"

  # A started server answers the health probe with SERVING, through the image's own HEALTHCHECK.
  # (podman logs that it cannot reach systemd to schedule health checks: these hosts have
  # none, so the check runs when asked, with `podman healthcheck run`.)
  local name t0
  for server in reward_server learner; do
    name="maskgrpo-ct-$server-$$"
    CLEANUP+=("podman rm -f -t 0 $name")
    t0=$(date +%s.%N)
    if [ "$server" = learner ]; then
      podman run -d --name "$name" "$IMAGE" > /dev/null 2>&1   # the image's default command
    else
      # As docker/README.md documents it (the image's configs listen on 127.0.0.1:0).
      podman run -d --name "$name" -e MASKGRPO_HEALTH_ADDRESS=127.0.0.1:50052 "$IMAGE" \
        reward_server --config /etc/maskgrpo/reward_server.textproto --listen 0.0.0.0:50052 \
        --metrics-listen 0.0.0.0:9100 > /dev/null 2>&1
    fi
    if wait_for 180 "$server health" -- podman healthcheck run "$name"; then
      pass "$server: HEALTHCHECK healthy"
      figure "$server container start to SERVING $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
      out=$(podman exec "$name" sh -c 'maskgrpo_health_probe --address "$MASKGRPO_HEALTH_ADDRESS"' 2>&1) &&
        grep -q ": SERVING$" <<<"$out" && pass "$server: maskgrpo_health_probe says $out" || fail "$server probe: $out"
    else
      fail "$server never turned healthy: $(podman logs "$name" 2>&1 | tail -5)"
    fi
    podman rm -f -t 0 "$name" > /dev/null 2>&1
  done
  finish
}

image_phase_required() {
  podman image exists "$IMAGE" || fatal "$IMAGE is missing: run container_test.sh image first"
}

remove_leftovers
CLEANUP+=(remove_leftovers)
case "$PHASE" in
  image) image_phase ;;
  compose) image_phase_required; source tests/container_compose.sh ;;
  kube) image_phase_required; source tests/container_kube.sh ;;
  *) fatal "unknown phase $PHASE (image, compose or kube)" ;;
esac
