#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests offline, without a cluster.

    kubectl kustomize deploy/k8s/overlays/cpu-demo | python3 deploy/k8s/validate.py
    python3 deploy/k8s/validate.py --self-test

Reads YAML documents on stdin. Each object is checked against the API schema of the
installed Kubernetes Python client (python3-kubernetes): field names, value types (a
string where an integer belongs is an error, as the API server would say), required
fields. Then some checks across objects that kubectl would only find out on a cluster:
selectors that select nothing, references to ConfigMaps, Secrets, volumes, ports and keys
that are not there, probes with no handler or two, GPU requests unequal to limits.

Prints one line per problem, "Kind/name: field.path: problem", and exits 1 when there is
any (2 for unreadable input). Fields newer than the installed client's API (listed in
NEWER_FIELDS below) are checked from that table.
"""
import argparse
import re
import sys

import yaml
from kubernetes import client as k8s

# Fields of the Kubernetes API that an older Python client may not have yet:
# {model: {snake_case_field: type}}, types written as the client writes them.
NEWER_FIELDS = {
    "V1Probe": {"grpc": "V1GRPCAction"},
    "V1Container": {"restart_policy": "str"},
    "V1PodSpec": {"host_users": "bool", "scheduling_gates": "list[object]"},
    "V1TopologySpreadConstraint": {"min_domains": "int", "node_affinity_policy": "str",
                                   "node_taints_policy": "str", "match_label_keys": "list[str]"},
    "V1StatefulSetSpec": {"persistent_volume_claim_retention_policy": "object", "ordinals": "object"},
    "V1PodDisruptionBudgetSpec": {"unhealthy_pod_eviction_policy": "str"},
}
# Models missing from an older client: {model: ({snake_case_field: type}, {required})}.
NEWER_MODELS = {
    "V1GRPCAction": ({"port": "int", "service": "str"}, {"port"}),
}
# apiVersions whose models an older client has under an earlier, same-shaped version.
VERSION_FALLBACK = {"V2": "V2beta2"}

INT_OR_STRING = {"targetPort", "port", "maxUnavailable", "maxSurge", "minAvailable"}
QUANTITY_PARENTS = {"limits", "requests", "capacity", "hard"}
QUANTITY_KEYS = {"sizeLimit", "storage"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def camel(snake):
    head, *rest = snake.lstrip("_").split("_")
    return head + "".join(w.title() for w in rest)


class Schema:
    """JSON field name -> client type, and required fields, of one API model."""

    _cache = {}

    @classmethod
    def of(cls, model):
        if model not in cls._cache:
            cls._cache[model] = cls._build(model)
        return cls._cache[model]

    @staticmethod
    def _build(model):
        klass = getattr(k8s, model, None)
        if klass is None:
            if model not in NEWER_MODELS:
                return None
            types, required = NEWER_MODELS[model]
            return {camel(a): t for a, t in types.items()}, {camel(a) for a in required}
        types = {klass.attribute_map[a]: t for a, t in klass.openapi_types.items()}
        types.update({camel(a): t for a, t in NEWER_FIELDS.get(model, {}).items()})
        # A generated model's setters reject None for required fields when client-side
        # validation is on: ask each setter.
        cfg = k8s.Configuration()
        cfg.client_side_validation = False
        instance = klass(local_vars_configuration=cfg)
        cfg.client_side_validation = True
        required = set()
        for attr in klass.openapi_types:
            try:
                setattr(instance, attr, None)
            except ValueError as e:
                if "must not be `None`" in str(e):
                    required.add(klass.attribute_map[attr])
        return types, required


def model_for(api_version, kind):
    version = api_version.split("/")[-1]
    prefix = version[:1].upper() + version[1:]
    for p in (prefix, VERSION_FALLBACK.get(prefix)):
        if p and getattr(k8s, p + kind, None) is not None:
            return p + kind
    return None


def check_type(value, typ, path, key, parent_key, out):
    """Appends (path, problem) to out where value does not fit the client type typ."""
    if value is None:
        return
    where = path or "(top)"
    if typ == "str":
        numeric_quantity = (parent_key in QUANTITY_PARENTS or key in QUANTITY_KEYS) and \
            isinstance(value, (int, float)) and not isinstance(value, bool)
        if not isinstance(value, str) and not numeric_quantity:
            out.append((where, f"expected a string, got {type(value).__name__} {value!r}"))
    elif typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            out.append((where, f"expected an integer, got {type(value).__name__} {value!r}"))
    elif typ == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            out.append((where, f"expected a number, got {type(value).__name__} {value!r}"))
    elif typ == "bool":
        if not isinstance(value, bool):
            out.append((where, f"expected true or false, got {type(value).__name__} {value!r}"))
    elif typ == "datetime":
        if not isinstance(value, str):
            out.append((where, f"expected a timestamp string, got {value!r}"))
    elif typ == "object":
        if key in INT_OR_STRING and (not isinstance(value, (int, str)) or isinstance(value, bool)):
            out.append((where, f"expected an integer or a string, got {value!r}"))
    elif typ.startswith("list["):
        if not isinstance(value, list):
            out.append((where, f"expected a list, got {type(value).__name__}"))
            return
        for i, item in enumerate(value):
            check_type(item, typ[5:-1], f"{path}[{i}]", key, parent_key, out)
    elif typ.startswith("dict("):
        if not isinstance(value, dict):
            out.append((where, f"expected a map, got {type(value).__name__}"))
            return
        inner = typ[typ.index(",") + 1:-1].strip()
        for k, v in value.items():
            check_type(v, inner, f"{path}.{k}", k, key, out)
    else:
        schema = Schema.of(typ)
        if schema is None:
            out.append((where, f"no schema for type {typ}"))
            return
        if not isinstance(value, dict):
            out.append((where, f"expected an object ({typ}), got {type(value).__name__} {value!r}"))
            return
        fields, required = schema
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k not in fields:
                out.append((sub, f"unknown field (not in {typ})"))
            else:
                check_type(v, fields[k], sub, k, key, out)
        for r in sorted(required):
            if value.get(r) is None:
                out.append((f"{path}.{r}" if path else r, "required field is missing"))


# ---------------------------------------------------------------------------------------
# Checks across fields and objects.

def quantity(q):
    """A resource quantity as a float (enough to compare requests with limits)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(q))
    if not m:
        return None
    units = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10,
             "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(m.group(1)) * units[m.group(2)] if m.group(2) in units else None


def pod_template(obj):
    spec = obj.get("spec") or {}
    if obj["kind"] in WORKLOADS:
        return spec.get("template") or {}
    if obj["kind"] == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    if obj["kind"] == "Pod":
        return obj
    return None


def check_pod(obj, pod, base, index, out):
    spec = pod.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    if obj["kind"] == "StatefulSet":
        for t in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
            volumes[(t.get("metadata") or {}).get("name")] = {}
    ns = obj["metadata"].get("namespace", "")

    def ref(kind, name, path, optional=False, keys=()):
        target = index.get((kind, ns, name))
        if target is None:
            if not optional:
                out.append((path, f"refers to {kind} {name!r}, which is not in the input (namespace {ns!r})"))
            return
        present = set((target.get("data") or {})) | set((target.get("stringData") or {})) | \
            set((target.get("binaryData") or {}))
        for k in keys:
            if k not in present:
                out.append((path, f"key {k!r} is not in {kind} {name!r}"))

    for i, v in enumerate(spec.get("volumes") or []):
        p = f"{base}.volumes[{i}]"
        if "configMap" in v:
            cm = v["configMap"]
            ref("ConfigMap", cm.get("name"), p, cm.get("optional", False), [it["key"] for it in cm.get("items") or []])
        if "secret" in v:
            s = v["secret"]
            ref("Secret", s.get("secretName"), p, s.get("optional", False), [it["key"] for it in s.get("items") or []])
        for j, src in enumerate((v.get("projected") or {}).get("sources") or []):
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in src:
                    s = src[key]
                    ref(kind, s.get("name"), f"{p}.projected.sources[{j}]", s.get("optional", False),
                        [it["key"] for it in s.get("items") or []])
        if "persistentVolumeClaim" in v:
            ref("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName"), p)

    containers = [("containers", c) for c in spec.get("containers") or []] + \
                 [("initContainers", c) for c in spec.get("initContainers") or []]
    if not spec.get("containers"):
        out.append((f"{base}.containers", "a pod needs at least one container"))
    names = [c.get("name") for _, c in containers]
    for n in {n for n in names if names.count(n) > 1}:
        out.append((f"{base}.containers", f"container name {n!r} is used twice"))
    for group, c in containers:
        cp = f"{base}.{group}[{c.get('name')}]"
        if not c.get("image"):
            out.append((f"{cp}.image", "required for a pod's container"))
        port_names = set()
        for j, port in enumerate(c.get("ports") or []):
            num = port.get("containerPort")
            if isinstance(num, int) and not 1 <= num <= 65535:
                out.append((f"{cp}.ports[{j}].containerPort", f"{num} is not in 1..65535"))
            if port.get("name"):
                if port["name"] in port_names:
                    out.append((f"{cp}.ports[{j}].name", f"port name {port['name']!r} is used twice"))
                if len(port["name"]) > 15 or not DNS1035_LABEL.match(port["name"]):
                    out.append((f"{cp}.ports[{j}].name", "must be a lowercase name of at most 15 characters"))
                port_names.add(port["name"])
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c.get(probe_name)
            if probe is None:
                continue
            handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
            if len(handlers) != 1:
                out.append((f"{cp}.{probe_name}", f"needs exactly one of {', '.join(PROBE_HANDLERS)}; has "
                                                  f"{', '.join(handlers) or 'none'}"))
            for h in ("httpGet", "tcpSocket"):
                port = (probe.get(h) or {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    out.append((f"{cp}.{probe_name}.{h}.port", f"no container port is named {port!r}"))
        paths = set()
        for j, m in enumerate(c.get("volumeMounts") or []):
            if m.get("name") not in volumes:
                out.append((f"{cp}.volumeMounts[{j}]", f"no volume named {m.get('name')!r}"))
            if m.get("mountPath") in paths:
                out.append((f"{cp}.volumeMounts[{j}]", f"mountPath {m.get('mountPath')!r} is used twice"))
            paths.add(m.get("mountPath"))
        for j, e in enumerate(c.get("env") or []):
            vf = e.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in vf:
                    r = vf[key]
                    ref(kind, r.get("name"), f"{cp}.env[{e.get('name')}]", r.get("optional", False), [r.get("key")])
        for j, e in enumerate(c.get("envFrom") or []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in e:
                    ref(kind, e[key].get("name"), f"{cp}.envFrom[{j}]", e[key].get("optional", False))
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        for r, want in requests.items():
            if r in limits and quantity(want) is not None and quantity(limits[r]) is not None \
                    and quantity(want) > quantity(limits[r]):
                out.append((f"{cp}.resources.requests.{r}", f"{want} is more than the limit {limits[r]}"))
            if "/" in r and r in limits and quantity(want) != quantity(limits[r]):
                out.append((f"{cp}.resources.requests.{r}", "an extended resource's request must equal its limit"))
        for r in limits:
            if "/" in r and r in requests and quantity(limits[r]) is None:
                out.append((f"{cp}.resources.limits.{r}", f"not a quantity: {limits[r]!r}"))


def selects(selector, labels):
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def check_cross(objs, problems):
    index = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"].get("name")): o for o in objs}
    pods = []  # (namespace, labels, pod template, owner)
    for o in objs:
        pod = pod_template(o)
        if pod is not None:
            pods.append((o["metadata"].get("namespace", ""), (pod.get("metadata") or {}).get("labels") or {}, pod, o))
    for o in objs:
        kind, ns, spec = o["kind"], o["metadata"].get("namespace", ""), o.get("spec") or {}
        out = []
        pod = pod_template(o)
        if pod is not None:
            base = "spec" if kind == "Pod" else "spec.template.spec"
            if kind in WORKLOADS and kind != "Job":
                labels = (pod.get("metadata") or {}).get("labels") or {}
                sel = spec.get("selector") or {}
                if not selects(sel, labels):
                    out.append(("spec.selector", "does not match the pod template's labels"))
            check_pod(o, pod, base, index, out)
        if kind == "Service" and spec.get("selector"):
            matched = [p for p in pods if p[0] == ns and all(p[1].get(k) == v for k, v in spec["selector"].items())]
            if not matched:
                out.append(("spec.selector", "selects no pod template in the input"))
            for j, port in enumerate(spec.get("ports") or []):
                tp = port.get("targetPort")
                if isinstance(tp, str) and matched and not any(
                        tp == cport.get("name") for _, _, pt, _ in matched
                        for c in (pt.get("spec") or {}).get("containers") or [] for cport in c.get("ports") or []):
                    out.append((f"spec.ports[{j}].targetPort", f"no selected container has a port named {tp!r}"))
        if kind == "PodDisruptionBudget":
            if not any(p[0] == ns and selects(spec.get("selector"), p[1]) for p in pods):
                out.append(("spec.selector", "selects no pod template in the input"))
            if "minAvailable" in spec and "maxUnavailable" in spec:
                out.append(("spec", "minAvailable and maxUnavailable are mutually exclusive"))
        if kind == "HorizontalPodAutoscaler":
            t = spec.get("scaleTargetRef") or {}
            target = index.get((t.get("kind"), ns, t.get("name")))
            if target is None:
                out.append(("spec.scaleTargetRef", f"{t.get('kind')} {t.get('name')!r} is not in the input"))
            else:
                for m in spec.get("metrics") or []:
                    r = (m.get("resource") or {})
                    if m.get("type") == "Resource" and (r.get("target") or {}).get("type") == "Utilization":
                        for c in ((pod_template(target) or {}).get("spec") or {}).get("containers") or []:
                            if r.get("name") not in ((c.get("resources") or {}).get("requests") or {}):
                                out.append(("spec.metrics", f"utilization of {r.get('name')} needs a request in "
                                                            f"container {c.get('name')!r}"))
            if (spec.get("minReplicas") or 1) > (spec.get("maxReplicas") or 0):
                out.append(("spec", "minReplicas is more than maxReplicas"))
        problems.extend((o, p, m) for p, m in out)


def validate(docs):
    """Returns [(object, path, problem)] for the parsed YAML documents."""
    problems, objs = [], []
    for n, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            problems.append(({"kind": "?", "metadata": {"name": f"document {n + 1}"}}, "(top)",
                             "not a Kubernetes object (kind and apiVersion are required)"))
            continue
        doc.setdefault("metadata", {})
        if not isinstance(doc["metadata"], dict):
            problems.append((doc | {"metadata": {}}, "metadata", "expected an object"))
            continue
        name = doc["metadata"].get("name")
        if not name:
            problems.append((doc, "metadata.name", "required field is missing"))
        elif not isinstance(name, str) or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            problems.append((doc, "metadata.name", "must be a lowercase DNS name (a-z, 0-9, '-', '.')"))
        elif doc["kind"] in ("Service", "Namespace") and (len(name) > 63 or not DNS1035_LABEL.match(name)):
            problems.append((doc, "metadata.name", "must be a DNS label: a-z, 0-9, '-', starting with a letter"))
        model = model_for(doc["apiVersion"], doc["kind"])
        if model is None:
            problems.append((doc, "(top)", f"no schema for {doc['apiVersion']} {doc['kind']}"))
            continue
        found = []
        check_type(doc, model, "", None, None, found)
        problems.extend((doc, p, m) for p, m in found)
        objs.append(doc)
    check_cross(objs, problems)
    return problems


def describe(obj):
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


# ---------------------------------------------------------------------------------------

SELF_TEST_GOOD = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: t}
data: {a.conf: "x"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: t}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {grpc: {port: 8080}}
          livenessProbe: {httpGet: {path: /, port: http}}
          resources: {requests: {cpu: 1, memory: 1Gi}, limits: {cpu: "2", memory: 1Gi}}
          volumeMounts: [{name: cfg, mountPath: /etc/web}]
      volumes:
        - name: cfg
          projected: {sources: [{configMap: {name: cfg, items: [{key: a.conf, path: a.conf}]}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""

# (what to break, change applied to the Deployment, text expected in a problem)
SELF_TEST_BROKEN = [
    ("string containerPort", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]
     .update(containerPort="8080"), "containerPort: expected an integer"),
    ("container without a name", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
     "containers[0].name: required field is missing"),
    ("no selector", lambda d: d["spec"].pop("selector"), "spec.selector: required field is missing"),
    ("misspelt field", lambda d: d["spec"].update(replica=2), "spec.replica: unknown field"),
    ("two probe handlers", lambda d: d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
     .update(exec={"command": ["true"]}), "needs exactly one of"),
    ("mount of a missing volume", lambda d: d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
     .update(name="nope"), "no volume named 'nope'"),
    ("missing ConfigMap", lambda d: d["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0]
     ["configMap"].update(name="other"), "refers to ConfigMap 'other'"),
    ("ConfigMap in another namespace", lambda d: d["metadata"].update(namespace="u"), "(namespace 'u')"),
    ("selector unlike the labels", lambda d: d["spec"]["selector"]["matchLabels"].update(app="x"),
     "does not match the pod template's labels"),
    ("replicas as a string", lambda d: d["spec"].update(replicas="1"), "spec.replicas: expected an integer"),
    ("GPU request unlike its limit", lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]
     ["requests"].update({"nvidia.com/gpu": 1}) or d["spec"]["template"]["spec"]["containers"][0]["resources"]
     ["limits"].update({"nvidia.com/gpu": 2}), "must equal its limit"),
]


def self_test():
    failures = 0
    good = validate(list(yaml.safe_load_all(SELF_TEST_GOOD)))
    if good:
        failures += 1
        for obj, path, msg in good:
            print(f"self-test: valid input reported: {describe(obj)}: {path}: {msg}")
    for what, breaks, expected in SELF_TEST_BROKEN:
        docs = list(yaml.safe_load_all(SELF_TEST_GOOD))
        breaks(docs[1])
        found = [f"{describe(o)}: {p}: {m}" for o, p, m in validate(docs)]
        ok = any(expected in line for line in found)
        failures += not ok
        print(f"self-test: {what}: {'caught' if ok else 'MISSED'}: {found[0] if found else 'no problem reported'}")
    print(f"{len(SELF_TEST_BROKEN) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check that broken objects are caught")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    try:
        docs = list(yaml.safe_load_all(sys.stdin))
    except yaml.YAMLError as e:
        print(f"validate: input is not YAML: {e}", file=sys.stderr)
        return 2
    problems = validate(docs)
    for obj, path, msg in problems:
        print(f"{describe(obj)}: {path}: {msg}")
    if problems:
        print(f"validate: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    if not args.quiet:
        kinds = sorted({d["kind"] for d in docs if d})
        print(f"validate: {sum(1 for d in docs if d)} objects OK ({', '.join(kinds)}) "
              f"against the schema of the Kubernetes Python client {__import__('kubernetes').__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
