#!/usr/bin/env python3
"""Turns rendered Kubernetes manifests into what `podman kube play` (4.3) can run.

    kubectl kustomize deploy/k8s/overlays/cpu-demo | \
      python3 deploy/k8s/podman_play.py --only learner,reward-server > stage1.yaml
    python3 deploy/k8s/podman_play.py --only rollout-worker \
      --host maskgrpo-learner=10.89.0.2 --host maskgrpo-reward-server=10.89.0.3 < rendered.yaml

podman runs Pods and Deployments with their ConfigMaps and PersistentVolumeClaims, but not
what a cluster adds around them. What this changes, and why (printed to stderr as it goes):
  - StatefulSet -> Deployment with one PersistentVolumeClaim per volumeClaimTemplate
    (podman has no StatefulSet; the claim keeps the StatefulSet's name, <template>-<set>-0);
  - projected volumes made only of ConfigMaps -> one configMap volume (podman 4.3 has no
    projected volumes);
  - containerPorts are removed (podman would publish each on the host, where two pods that
    both serve :9100 collide); the pods are reached at their network addresses;
  - grpc probes -> exec probes with maskgrpo_health_probe (podman has no grpc probe);
    httpGet probes are dropped, since podman runs them with curl inside the container and
    the image has none (the test GETs /metrics from the host instead);
  - Services, Namespaces, PodDisruptionBudgets and HorizontalPodAutoscalers are dropped:
    podman has no service proxy, no scheduler and no autoscaler. Service names are given to
    the pods as hostAliases (--host NAME=IP), which is how the workers find the learner
    and the reward servers.
--only keeps the workloads whose app.kubernetes.io/component is listed. --name-suffix S appends
-S to every object's name (and to the references to them), so that a test's pods, claims and
ConfigMap volumes never collide with a stack of the same manifests on the same host.
"""
import argparse
import copy
import sys

import yaml

DROPPED_KINDS = {"Service", "Namespace", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def note(message):
    print("podman_play: " + message, file=sys.stderr)


def convert_probe(probe, container_name):
    if probe is None:
        return None
    if "grpc" in probe:
        port = probe.pop("grpc")["port"]
        probe["exec"] = {"command": ["maskgrpo_health_probe", "--address", "127.0.0.1:%d" % port]}
        return probe
    if "httpGet" in probe:
        note("%s: httpGet probe dropped (podman runs it with curl, which the image lacks)" % container_name)
        return None
    return probe


def convert_pod_spec(spec, hosts, suffix):
    for volume in spec.get("volumes", []):
        projected = volume.pop("projected", None)
        if projected is None:
            continue
        sources = projected.get("sources", [])
        if len(sources) != 1 or "configMap" not in sources[0]:
            raise SystemExit("podman_play: volume %s projects more than one ConfigMap; podman cannot" % volume["name"])
        volume["configMap"] = dict(sources[0]["configMap"])
        if "defaultMode" in projected:
            volume["configMap"]["defaultMode"] = projected["defaultMode"]
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] += suffix
        if "persistentVolumeClaim" in volume:
            volume["persistentVolumeClaim"]["claimName"] += suffix
    for container in spec.get("containers", []):
        # podman publishes every containerPort on the host, so two pods with :9100 collide;
        # on podman the pods are reached at their own network addresses instead.
        if container.pop("ports", None):
            note("%s: containerPorts not published on the host" % container["name"])
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            converted = convert_probe(container.pop(kind, None), container["name"])
            if converted is not None:
                container[kind] = converted
    if hosts:
        spec["hostAliases"] = [{"ip": ip, "hostnames": [name]} for name, ip in sorted(hosts.items())]


def convert(docs, only, hosts, suffix=""):
    out = []
    config_maps = []
    for doc in docs:
        kind = doc["kind"]
        doc = copy.deepcopy(doc)
        doc["metadata"].pop("namespace", None)
        name = doc["metadata"]["name"]
        if kind in DROPPED_KINDS:
            note("%s %s dropped" % (kind, doc["metadata"]["name"]))
            continue
        doc["metadata"]["name"] = name + suffix
        if kind == "ConfigMap":
            config_maps.append(doc)
            continue
        if kind not in ("Deployment", "StatefulSet"):
            raise SystemExit("podman_play: no rule for kind %s" % kind)
        component = doc["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component", "")
        if only and component not in only:
            continue
        if kind == "StatefulSet":
            for template in doc["spec"].pop("volumeClaimTemplates", []):
                claim = "%s-%s-0" % (template["metadata"]["name"], name)
                out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": claim + suffix}, "spec": template["spec"]})
                doc["spec"]["template"]["spec"].setdefault("volumes", []).append(
                    {"name": template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
            for key in ("serviceName", "podManagementPolicy", "updateStrategy"):
                doc["spec"].pop(key, None)
            doc["kind"] = "Deployment"
            doc["apiVersion"] = "apps/v1"
            note("StatefulSet %s -> Deployment with its volume claims" % name)
        convert_pod_spec(doc["spec"]["template"]["spec"], hosts, suffix)
        out.append(doc)
    if not any(d["kind"] == "Deployment" for d in out):
        raise SystemExit("podman_play: no workload left (check --only)")
    return config_maps + out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated app.kubernetes.io/component values")
    parser.add_argument("--host", action="append", default=[], help="NAME=IP, added as a hostAlias")
    parser.add_argument("--name-suffix", default="", help="S: '-S' is appended to every object's name")
    args = parser.parse_args()
    hosts = {}
    for entry in args.host:
        name, sep, ip = entry.partition("=")
        if not sep or not name or not ip:
            raise SystemExit("podman_play: --host wants NAME=IP, got %r" % entry)
        hosts[name] = ip
    only = {c for c in args.only.split(",") if c}
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    yaml.safe_dump_all(convert(docs, only, hosts, "-" + args.name_suffix if args.name_suffix else ""), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
