#!/usr/bin/env python3
"""Lists the maskgrpo_* metric names used by the Grafana dashboard and the Prometheus alerts.

Usage:
  dashboard_metrics.py                       print the names, sorted, one per line
  dashboard_metrics.py --check FILE [FILE..] also compare them with scraped /metrics text
                                             ('-' reads stdin); exits 1 if any is missing

Names are printed as written in the expressions, so histogram series keep their _bucket,
_sum or _count suffix and counters their _total. Sources:
  * deploy/grafana/dashboard.json: every panel target "expr" and every templating query;
  * deploy/prometheus/alerts.yml: every rule "expr" (comments and annotations are ignored).

--check accepts the exposition text of one or more processes (learner, reward server,
rollout worker). A name counts as present if a sample of that name appears, or if a
`# TYPE` line declares it (histograms also declare NAME_bucket, NAME_sum, NAME_count),
because labelled families have no samples until their first observation.

Standard library only; no PyYAML needed.
"""

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DASHBOARD = os.path.join(HERE, "dashboard.json")
DEFAULT_ALERTS = os.path.join(HERE, os.pardir, "prometheus", "alerts.yml")

# A metric name starting with maskgrpo_ that is not the tail of a longer identifier.
NAME_RE = re.compile(r"(?<![A-Za-z0-9_:])maskgrpo_[A-Za-z0-9_]+")
# A YAML mapping key line ("for: 5m", "- alert: X"), which ends a plain multi-line scalar.
MAPPING_KEY_RE = re.compile(r"^\s*(?:-\s+)?[A-Za-z_][A-Za-z0-9_-]*:(?:\s|$)")


def dashboard_exprs(path):
    """All PromQL strings of a Grafana dashboard: targets' expr and templating queries."""
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    out = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition") and isinstance(value, str):
                    out.append(value)
                elif key == "query" and isinstance(value, str):
                    out.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dash)
    return out


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace("''", "'") if value[0] == "'" else inner.encode().decode("unicode_escape")
    return value


def rule_exprs(path):
    """The `expr:` values of a Prometheus rule file (plain, quoted, or block scalars)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    key_re = re.compile(r"^(\s*)(?:-\s+)?expr:\s*(.*?)\s*$")
    i = 0
    while i < len(lines):
        m = key_re.match(lines[i])
        if not m or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        indent = len(m.group(1))
        value = m.group(2)
        i += 1
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            out.append("\n".join(block))
        else:
            # Plain scalar, possibly continued on more-indented lines.
            parts = [value]
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent \
                    and not MAPPING_KEY_RE.match(lines[i]):
                parts.append(lines[i].strip())
                i += 1
            out.append(_unquote(" ".join(parts)))
    return out


def names_in(exprs):
    found = set()
    for expr in exprs:
        found.update(NAME_RE.findall(expr))
    return found


def exposed_names(texts):
    """Sample names and declared family names in Prometheus exposition text."""
    names = set()
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    name, kind = parts[2], parts[3]
                    names.add(name)
                    if kind == "histogram":
                        names.update(name + s for s in ("_bucket", "_sum", "_count"))
                    elif kind == "summary":
                        names.update(name + s for s in ("_sum", "_count"))
                continue
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dashboard", default=DEFAULT_DASHBOARD, help="Grafana dashboard JSON")
    ap.add_argument("--alerts", default=DEFAULT_ALERTS, help="Prometheus rule file")
    ap.add_argument("--check", nargs="+", metavar="METRICS_TEXT",
                    help="scraped /metrics text files to compare with ('-' for stdin)")
    args = ap.parse_args(argv)

    used = names_in(dashboard_exprs(args.dashboard)) | names_in(rule_exprs(args.alerts))
    for name in sorted(used):
        print(name)

    if args.check:
        texts = []
        for path in args.check:
            if path == "-":
                texts.append(sys.stdin.read())
            else:
                with open(path, encoding="utf-8") as f:
                    texts.append(f.read())
        missing = sorted(used - exposed_names(texts))
        for name in missing:
            print(f"missing from /metrics: {name}", file=sys.stderr)
        return 1 if missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
