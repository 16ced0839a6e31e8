#!/usr/bin/env python3
"""The table of scripts/ablate.sh: per variant, the held-out gain of every training seed, its
mean +- standard error, and the paired difference to the default on the same seeds.

Usage: ablation_table.py OUT_DIR UPDATES VARIANT...   (reads OUT_DIR/<variant>/seed<N>/)
Writes OUT_DIR/table.md and prints it. Only seeds with a finished run count; a variant's
paired column uses the seeds that it and the default both finished; for a variant that starts
from another base model (base_long) it also pairs the scores after training.
"""
import json
import math
import os
import re
import sys

TASKS = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]


def mean_se(values):
    """(mean, standard error) of a list; the SE is None for fewer than 2 values."""
    n = len(values)
    if n == 0:
        return None, None
    m = sum(values) / n
    if n < 2:
        return m, None
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def fmt(m, se, digits=3):
    if m is None:
        return "-"
    return f"{m:+.{digits}f}" if se is None else f"{m:+.{digits}f} +- {se:.{digits}f}"


def load_seed(seed_dir):
    """before/after eval lines, the train-split eval and late-update statistics of one run."""
    run = os.path.join(seed_dir, "run")
    eval_dir = os.path.join(run, "eval")
    if not os.path.exists(os.path.join(seed_dir, "seconds")) or not os.path.isdir(eval_dir):
        return None
    versions = sorted(os.listdir(eval_dir))
    before = json.load(open(os.path.join(eval_dir, versions[0], "eval.json")))
    after = json.load(open(os.path.join(eval_dir, versions[-1], "eval.json")))
    out = {"before": before, "after": after, "seconds": float(open(os.path.join(seed_dir, "seconds")).read())}
    # The moving average of the weights (learner { ema_decay }), judged on the same images.
    ema_dir = os.path.join(run, "eval_ema")
    if os.path.isdir(ema_dir) and sorted(os.listdir(ema_dir))[-1:] == versions[-1:]:
        out["ema_after"] = json.load(open(os.path.join(ema_dir, versions[-1], "eval.json")))
    final = os.path.join(seed_dir, "final_eval", "eval.json")
    if os.path.exists(final):
        out["final"] = json.load(open(final))
    split = os.path.join(seed_dir, "train_split", "eval.json")
    if os.path.exists(split):
        out["train_split"] = json.load(open(split))
    updates = []
    metrics = os.path.join(run, "metrics.jsonl")
    if os.path.exists(metrics):
        for line in open(metrics):
            j = json.loads(line)
            if j.get("kind") == "update":
                updates.append(j)
    late = updates[-10:]
    # The sampled training reward per task over the first and the last 10 updates (image-
    # weighted), from the update lines' sampled_by_task (runs before 7bf4430 have none).
    def by_task(lines):
        sums = {}
        for u in lines:
            for tag, t in u.get("sampled_by_task", {}).items():
                s = sums.setdefault(tag, [0.0, 0])
                s[0] += t["reward"] * t["images"]
                s[1] += t["images"]
        return {tag: s[0] / s[1] for tag, s in sums.items() if s[1] > 0}
    out["sampled_early"], out["sampled_late"] = by_task(updates[:10]), by_task(late)
    # The learner service (the `launch` variant) has no objects_per_image / fragments_per_image:
    # it logs the reward server's image statistics of the admitted groups instead.
    stat = {"objects_per_image": "stat/objects", "fragments_per_image": "stat/fragments"}
    for key in ("objects_per_image", "fragments_per_image", "entropy", "sampled_reward_mean"):
        vals = [u[key] if key in u else u["components"][stat[key]] for u in late
                if key in u or stat.get(key) in u.get("components", {})]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


def main():
    out_dir, updates, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    def load_variant(v):
        """{seed: run} of the finished seeds of variant v."""
        vdir = os.path.join(out_dir, v)
        seeds = {}
        if os.path.isdir(vdir):
            for name in sorted(os.listdir(vdir)):
                m = re.fullmatch(r"seed(\d+)", name)
                r = m and load_seed(os.path.join(vdir, name))
                if r:
                    seeds[int(m.group(1))] = r
        return seeds

    # The default is loaded even when not listed: the paired column needs it.
    runs = {v: load_variant(v) for v in set(variants) | {"default"}}
    # A variant whose runs kept a moving average of the weights gets a second row judging
    # those weights, paired with the same runs' policy (the same training, the same images).
    reference = {}
    for v in list(variants):
        with_ema = {s: dict(r, after=r["ema_after"]) for s, r in runs[v].items() if "ema_after" in r}
        for r in with_ema.values():
            r.pop("final", None)  # the re-judged evaluation is of the policy
        if with_ema:
            name = f"{v}, moving average (paired: minus the same runs' policy)"
            runs[name], reference[name] = with_ema, v
            variants.insert(variants.index(v) + 1, name)

    base_path = os.path.join(out_dir, "base_eval", "eval.json")
    base = json.load(open(base_path)) if os.path.exists(base_path) else None

    lines = []

    def table(title, gain, after):
        """One row per variant: gains per seed, mean +- SE, paired difference to the default."""
        lines.extend([title, ""])
        lines.append("| variant | seeds | gain per seed | gain | after | paired gain - default | min gain | "
                     "objects / fragments per image (last 10 updates) | entropy | minutes per run |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for v in variants:
            seeds = {s: r for s, r in runs[v].items() if gain(r) is not None}
            if not seeds:
                lines.append(f"| {v} | 0 | (no finished run) | | | | | | | |")
                continue
            order = sorted(seeds)
            gains = [gain(seeds[s]) for s in order]
            afters = [after(seeds[s]) for s in order]
            ref = runs.get(reference.get(v, "default"), {})
            both = [s for s in order if s in ref and gain(ref[s]) is not None] if v != "default" else []
            paired = [gain(seeds[s]) - gain(ref[s]) for s in both]
            # A variant that starts from another base (base_long) is judged by where it ends
            # too: its gain is over its own base, so the paired gain alone undersells it.
            other_base = any(abs((after(seeds[s]) - gain(seeds[s])) - (after(ref[s]) - gain(ref[s]))) > 1e-9
                             for s in both)
            paired_after = [after(seeds[s]) - after(ref[s]) for s in both] if other_base else []
            objs = [seeds[s]["objects_per_image"] for s in order if seeds[s]["objects_per_image"] is not None]
            frags = [seeds[s]["fragments_per_image"] for s in order if seeds[s]["fragments_per_image"] is not None]
            ent = [seeds[s]["entropy"] for s in order if seeds[s]["entropy"] is not None]
            per_seed = ", ".join(f"{s}: {g:+.3f}" for s, g in zip(order, gains))
            pm, pse = mean_se(paired)
            om, _ = mean_se(objs)
            fm, _ = mean_se(frags)
            em, _ = mean_se(ent)
            lines.append(
                f"| {v} | {len(order)} | {per_seed} | {fmt(*mean_se(gains))} | {fmt(*mean_se(afters)).lstrip('+')} | "
                f"{fmt(pm, pse) if paired else '-'}{f' (n={len(paired)})' if paired else ''}"
                f"{f'; after: {fmt(*mean_se(paired_after))} (another base)' if paired_after else ''} | {min(gains):+.3f} | "
                f"{'-' if om is None else f'{om:.2f} / {fm:.2f}'} | {'-' if em is None else f'{em:.3f}'} | "
                f"{sum(seeds[s]['seconds'] for s in order) / len(order) / 60:.1f} |")
        lines.append("")

    table(f"{updates} updates per run; held-out overall (GenEval-style verdict, macro over tasks) of the runs' own "
          "evaluations; mean +- standard error over training seeds",
          lambda r: r["after"]["overall"] - r["before"]["overall"], lambda r: r["after"]["overall"])
    if base is not None:
        table(f"The same runs re-judged by `maskgrpo eval` (OUT/base_eval and seed<N>/final_eval: base model "
              f"{base['overall']:.3f})",
              lambda r: r["final"]["overall"] - base["overall"] if "final" in r else None,
              lambda r: r["final"]["overall"] if "final" in r else None)
    def per_task(title, after, before):
        lines.extend([title, ""])
        lines.append("| variant | " + " | ".join(TASKS) + " | train split overall |")
        lines.append("|---|" + "---|" * (len(TASKS) + 1))
        for v in variants:
            seeds = {s: r for s, r in runs[v].items() if after(r) is not None}
            if not seeds:
                continue
            cells = []
            for t in TASKS:
                a = [after(seeds[s])["tasks"][t] for s in seeds]
                b = [before(seeds[s])["tasks"][t] for s in seeds]
                cells.append(f"{sum(a) / len(a):.3f} ({sum(b) / len(b):.3f})")
            split = [seeds[s]["train_split"]["overall"] for s in seeds if "train_split" in seeds[s]]
            cells.append(fmt(*mean_se(split)).lstrip("+") if split else "-")
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        lines.append("")

    per_task("Per task after training, the runs' own evaluations (mean over seeds; before training in brackets):",
             lambda r: r["after"], lambda r: r["before"])
    if base is not None and "tasks" in base:
        per_task("Per task, re-judged (mean over seeds; the base model in brackets):",
                 lambda r: r.get("final"), lambda r: base)
    # Where a held-out task falls, this says whether the policy also got worse at it on the
    # prompts it trains on.
    sampled = [v for v in variants if any(r["sampled_late"] for r in runs[v].values())]
    if sampled:
        lines.extend(["Sampled training reward per task, last 10 updates (first 10 in brackets; "
                      "mean over seeds):", ""])
        lines.append("| variant | seeds | " + " | ".join(TASKS) + " |")
        lines.append("|---|---|" + "---|" * len(TASKS))
        for v in sampled:
            seeds = [r for r in runs[v].values() if r["sampled_late"]]
            cells = []
            for t in TASKS:
                late = [r["sampled_late"][t] for r in seeds if t in r["sampled_late"]]
                early = [r["sampled_early"][t] for r in seeds if t in r["sampled_early"]]
                cells.append(f"{sum(late) / len(late):.3f} ({sum(early) / len(early):.3f})" if late and early else "-")
            lines.append(f"| {v} | {len(seeds)} | " + " | ".join(cells) + " |")
        lines.append("")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table)
    print(table, end="")


if __name__ == "__main__":
    main()
