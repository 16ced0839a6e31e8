#!/usr/bin/env bash
# The deployment files, checked offline: the Compose file resolves, every shipped config
# parses as its process's typed config, Prometheus' configs and alert rules pass promtool
# (with the alerts' unit tests), both Kubernetes overlays render with kustomize and every
# rendered object passes the Kubernetes schema check, and the YAML lints clean.
#   usage: deploy_check.sh BUILD_BIN_DIR SOURCE_DIR
set -uo pipefail
BIN="$1"
SRC="$2"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3   # Debian's interpreter: it sees python3-kubernetes and python3-yaml
for tool in docker-compose promtool yamllint; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (scripts/install_deps.sh installs it)"
done
"$PY" -c "import kubernetes, yaml" 2> /dev/null || fail "python3-kubernetes / python3-yaml missing (scripts/install_deps.sh)"
cd "$SRC"

echo "== docker-compose config"
docker-compose -f deploy/compose/docker-compose.yml config -q || fail "deploy/compose/docker-compose.yml"

echo "== typed configs"
for f in $(find deploy configs -name '*.textproto' | sort); do
  base=$(basename "$f" .textproto)
  case "$base" in
    learner | rollout_worker | reward_server | launch | train | eval | generate | pretrain) kind=$base ;;
    *) continue ;;
  esac
  "$BIN/maskgrpo" check-config "$kind" "$f" > /dev/null || fail "$f does not parse as $kind config"
  echo "$f: $kind ok"
done

echo "== promtool"
promtool check config deploy/prometheus/prometheus-compose.yml || fail "promtool check config prometheus-compose.yml"
# Debian's promtool is built without Kubernetes service discovery and rejects
# kubernetes_sd_configs; check everything else of the Kubernetes config (scrape settings,
# relabelling, rule files) with the discovery block swapped for a static target.
cp deploy/prometheus/alerts.yml "$WORK/alerts.yml"
"$PY" - deploy/prometheus/prometheus-k8s.yml "$WORK/prometheus-k8s.yml" <<'PYEOF' || fail "prometheus-k8s.yml: not YAML"
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
swapped = 0
for job in config.get("scrape_configs", []):
    if "kubernetes_sd_configs" in job:
        del job["kubernetes_sd_configs"]
        job["static_configs"] = [{"targets": ["127.0.0.1:9100"]}]
        swapped += 1
if swapped == 0:
    sys.exit("no kubernetes_sd_configs found")
yaml.safe_dump(config, open(sys.argv[2], "w"))
PYEOF
promtool check config "$WORK/prometheus-k8s.yml" || fail "promtool check config prometheus-k8s.yml (discovery swapped)"
promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules"
promtool test rules deploy/prometheus/alerts_test.yml || fail "promtool test rules"

echo "== kustomize + schema"
cp -r deploy/k8s "$WORK/k8s"
# The gpu overlay's Secrets are made from files nobody commits: throw-away ones here.
SECRETS="$WORK/k8s/overlays/gpu/secrets"
bash scripts/make_dev_certs.sh "$SECRETS" maskgrpo-learner maskgrpo-reward-server > /dev/null || fail "make_dev_certs.sh"
echo "ci-token" > "$SECRETS/token"
"$PY" deploy/k8s/validate.py --self-test || fail "validate.py cannot tell a broken object from a good one"
if command -v kubectl > /dev/null; then
  for overlay in cpu-demo gpu showo512; do
    kubectl kustomize "$WORK/k8s/overlays/$overlay" > "$WORK/$overlay.yaml" || fail "kubectl kustomize $overlay"
    "$PY" deploy/k8s/validate.py < "$WORK/$overlay.yaml" || fail "schema check of overlay $overlay"
    echo "overlay $overlay: $(grep -c '^kind:' "$WORK/$overlay.yaml") objects rendered and valid"
  done
else
  # kubectl (which bundles kustomize) is not a Debian package. Without it, render the base
  # with a minimal stand-in (its resources, namespace and generated ConfigMap) and check
  # that; the overlays' patches are NOT rendered or checked then.
  echo "WARNING: kubectl not found: overlays not rendered; checking the base with a minimal renderer"
  "$PY" deploy/k8s/render_minimal.py deploy/k8s/base > "$WORK/base.yaml" || fail "rendering the base without kubectl"
  "$PY" deploy/k8s/validate.py < "$WORK/base.yaml" || fail "schema check of the base"
fi

echo "== yamllint"
yamllint -d relaxed --no-warnings deploy/ || fail "yamllint"
echo "deploy_check: all passed"
