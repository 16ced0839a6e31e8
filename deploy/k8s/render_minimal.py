#!/usr/bin/env python3
"""A stand-in for `kubectl kustomize` where kubectl is missing (it is not a Debian package).

    python3 deploy/k8s/render_minimal.py deploy/k8s/overlays/cpu-demo > rendered.yaml

Renders what these manifests use of kustomize: `resources` (files, and folders with their
own kustomization, recursively), `namespace`, `configMapGenerator` with files (no content
hash in the name, and the references stay unhashed too), and `replicas`. Everything else
(patches, labels, images) is NOT applied; each such field is named on stderr, so a check
that relies on this renderer says what it did not see.
"""
import os
import sys

import yaml

HANDLED = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "replicas"}


def render(folder):
    k = yaml.safe_load(open(os.path.join(folder, "kustomization.yaml")))
    for field in sorted(set(k) - HANDLED):
        print("render_minimal: %s: '%s' not applied" % (folder, field), file=sys.stderr)
    docs = []
    for resource in k.get("resources", []):
        path = os.path.join(folder, resource)
        if os.path.isdir(path):
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(open(path)) if d]
    for generator in k.get("configMapGenerator", []):
        data = {}
        for entry in generator["files"]:
            key, sep, path = entry.partition("=")
            if not sep:  # "file" alone: the key is its base name
                key, path = os.path.basename(entry), entry
            data[key] = open(os.path.join(folder, path)).read()
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data})
    counts = {r["name"]: r["count"] for r in k.get("replicas", [])}
    for d in docs:
        if d["kind"] != "Namespace" and "namespace" in k:
            d["metadata"]["namespace"] = k["namespace"]
        if d["metadata"]["name"] in counts and "replicas" in d.get("spec", {}):
            d["spec"]["replicas"] = counts[d["metadata"]["name"]]
    return docs


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: render_minimal.py KUSTOMIZATION_FOLDER")
    yaml.safe_dump_all(render(sys.argv[1]), sys.stdout)
