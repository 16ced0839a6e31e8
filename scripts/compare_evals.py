#!/usr/bin/env python3
"""Prints the held-out per-task table of a training run's first and last evaluation.

usage: compare_evals.py RUN_DIR [--markdown]
"""
import json
import os
import sys

TASKS = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run = sys.argv[1]
    markdown = "--markdown" in sys.argv[2:]
    eval_dir = os.path.join(run, "eval")
    versions = sorted(v for v in os.listdir(eval_dir) if os.path.exists(os.path.join(eval_dir, v, "eval.json")))
    if len(versions) < 2:
        sys.exit(f"{eval_dir}: needs at least two evaluations, found {versions}")
    first, last = (json.load(open(os.path.join(eval_dir, v, "eval.json"))) for v in (versions[0], versions[-1]))
    rows = [(t, first["tasks"][t], last["tasks"][t]) for t in TASKS]
    rows.append(("overall", first["overall"], last["overall"]))
    rows.append(("dense reward", first["mean_dense_reward"], last["mean_dense_reward"]))
    head = ("task", f"before ({versions[0]})", f"after ({versions[-1]})", "change")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|---|---|---|---|")
        for name, a, b in rows:
            print(f"| {name} | {a:.3f} | {b:.3f} | {b - a:+.3f} |")
    else:
        print(f"{head[0]:<15}{head[1]:>18}{head[2]:>18}{head[3]:>10}")
        for name, a, b in rows:
            print(f"{name:<15}{a:>18.3f}{b:>18.3f}{b - a:>+10.3f}")
    print(f"({last['images']} images per evaluation)")


if __name__ == "__main__":
    main()
