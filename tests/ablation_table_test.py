#!/usr/bin/env python3
"""scripts/ablation_table.py on synthetic run folders with known numbers: per-seed gains, the
mean +- standard error, the paired difference to the default, and unfinished runs left out."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]


def write_run(d, before, after, finished=True, counting=None, launcher=False, ema_after=None):
    evals = [("eval", "v000000", before), ("eval", "v000060", after)]
    if ema_after is not None:  # a run with learner { ema_decay }: the average judged beside the policy
        evals += [("eval_ema", "v000000", before), ("eval_ema", "v000060", ema_after)]
    for kind, version, overall in evals:
        e = os.path.join(d, "run", kind, version)
        os.makedirs(e)
        json.dump({"overall": overall, "tasks": {t: overall for t in TASKS}}, open(os.path.join(e, "eval.json"), "w"))
    with open(os.path.join(d, "run", "metrics.jsonl"), "w") as f:
        for v in range(1, 21):
            line = {"kind": "update", "version": v, "objects_per_image": 1.0 if v <= 10 else 2.0,
                    "fragments_per_image": 0.5, "entropy": 1.25}
            if launcher:  # the learner service logs the reward server's image statistics instead
                line = {"kind": "update", "version": v, "entropy": 1.25,
                        "components": {"stat/objects": 3.0 if v <= 10 else 1.5, "stat/fragments": 4.0}}
            if counting is not None:  # (early, late-on-even-updates) counting reward; colors 0.5
                # Late, odd updates draw 8 counting images at reward 0 and even ones 24 at the
                # given reward: only an image-weighted mean gives 3/4 of it.
                late = 0.0 if v % 2 else counting[1]
                line["sampled_by_task"] = {
                    "counting": {"reward": counting[0] if v <= 10 else late, "images": 8 if v % 2 else 24},
                    "colors": {"reward": 0.5, "images": 16}}
            f.write(json.dumps(line) + "\n")
    if finished:
        open(os.path.join(d, "seconds"), "w").write("600\n")


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


with tempfile.TemporaryDirectory() as out:
    # default gains +0.10, +0.20, +0.30 (mean 0.2, sd 0.1, SE 0.0577); variant gains +0.20,
    # +0.20, +0.50: paired differences +0.10, 0.00, +0.20 (mean 0.1, SE 0.0577).
    for seed, (b, a) in {1: (0.3, 0.4), 2: (0.3, 0.5), 3: (0.3, 0.6)}.items():
        write_run(os.path.join(out, "default", f"seed{seed}"), b, a)
    for seed, (b, a) in {1: (0.3, 0.5), 2: (0.3, 0.5), 3: (0.3, 0.8)}.items():
        # Late counting per seed: 0.75 * 0.2 = 0.15 (seeds 1, 2) and 0.75 * 0.8 = 0.6 (seed 3),
        # mean 0.3 (an unweighted mean would give 0.2); early 0.4 on every seed.
        write_run(os.path.join(out, "better", f"seed{seed}"), b, a, counting=(0.4, 0.2 if seed < 3 else 0.8))
    write_run(os.path.join(out, "better", "seed4"), 0.3, 0.9, finished=False)  # still running
    for seed in (1, 2):  # the `launch` variant's run folders, written by the learner service
        write_run(os.path.join(out, "launch", f"seed{seed}"), 0.3, 0.4, launcher=True)
    # The moving average: policy gains +0.15, +0.20 and the average's +0.20, +0.30 on the same
    # runs, so paired with the policy +0.05, +0.10 (mean 0.075, SE 0.025; with the default's
    # +0.10, +0.20 it would read +0.100 +- 0.000).
    for seed, (a, ema) in {1: (0.45, 0.5), 2: (0.5, 0.6)}.items():
        write_run(os.path.join(out, "ema", f"seed{seed}"), 0.3, a, ema_after=ema)
    # Re-judged by a final eval: base 0.30, the default's finals 0.45 / 0.50 / 0.55 (gains
    # +0.15 / +0.20 / +0.25, SE 0.029); "better" has no final evals.
    os.makedirs(os.path.join(out, "base_eval"))
    json.dump({"overall": 0.3}, open(os.path.join(out, "base_eval", "eval.json"), "w"))
    for seed, final in {1: 0.45, 2: 0.5, 3: 0.55}.items():
        d = os.path.join(out, "default", f"seed{seed}", "final_eval")
        os.makedirs(d)
        json.dump({"overall": final}, open(os.path.join(d, "eval.json"), "w"))
    table = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "ablation_table.py"), out, "60", "default",
                            "better", "missing", "launch", "ema"], check=True, capture_output=True, text=True).stdout
    print(table)
    # The rows of the 10-column tables, by variant: the runs' own evaluations, then the re-judged.
    tables = [{}]
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if not line.strip() and tables[-1]:
            tables.append({})
        if len(cells) == 10 and cells[0] not in ("variant", "---") and not cells[0].startswith("-"):
            tables[-1][cells[0]] = cells
    rows, rejudged = tables[0], tables[1]
    check(rows["default"][1] == "3", "default has 3 finished seeds")
    check(rows["default"][3] == "+0.200 +- 0.058", "default gain mean +- SE: " + rows["default"][3])
    check(rows["default"][5] == "-", "no paired column for the default")
    check(rows["better"][1] == "3", "the unfinished seed 4 is left out")
    check(rows["better"][2] == "1: +0.200, 2: +0.200, 3: +0.500", "per-seed gains: " + rows["better"][2])
    check(rows["better"][5] == "+0.100 +- 0.058 (n=3)", "paired difference: " + rows["better"][5])
    check(rows["better"][6] == "+0.200", "min gain: " + rows["better"][6])
    check(rows["better"][7] == "2.00 / 0.50", "objects / fragments over the last 10 updates: " + rows["better"][7])
    check(rows["missing"][1] == "0", "a variant without runs is listed as such")
    check(rows["launch"][5] == "-0.050 +- 0.050 (n=2)", "launcher paired with train: " + rows["launch"][5])
    check(rows["launch"][7] == "1.50 / 4.00", "launcher objects / fragments from stat/: " + rows["launch"][7])
    check(rows["ema"][3] == "+0.175 +- 0.025", "the ema runs' policy: " + rows["ema"][3])
    ema_row = "ema, moving average (paired: minus the same runs' policy)"
    check(ema_row in rows, "a row for the moving average: " + ", ".join(rows))
    check(rows[ema_row][2] == "1: +0.200, 2: +0.300", "the average's gains: " + rows[ema_row][2])
    check(rows[ema_row][5] == "+0.075 +- 0.025 (n=2)", "the average paired with its policy: " + rows[ema_row][5])
    check(not any(k.startswith("default, moving") for k in rows), "no average row for runs without one")
    check(os.path.exists(os.path.join(out, "table.md")), "table.md written")
    check(rejudged["default"][3] == "+0.200 +- 0.029", "re-judged gain: " + rejudged["default"][3])
    check(rejudged["better"][1] == "0", "no final evals, no re-judged row")
    # The 8-column rows (variant, seeds, six tasks) are the sampled-reward table's.
    sampled = [line for line in table.splitlines() if line.startswith("| better | 3 | ") and line.count("|") == 9]
    check(len(sampled) == 1, "one sampled-reward-per-task row for the variant that has them")
    cells = [c.strip() for c in sampled[0].split("|")[1:-1]]
    check(cells[2 + TASKS.index("counting")] == "0.300 (0.400)", "counting late (early): " + cells[4])
    check(cells[2 + TASKS.index("colors")] == "0.500 (0.500)", "colors late (early): " + cells[5])
    check(cells[2 + TASKS.index("position")] == "-", "a task never sampled: " + cells[6])
    check(not any(line.startswith("| default | 3 | ") and line.count("|") == 9 for line in table.splitlines()),
          "no sampled row for runs without sampled_by_task")
print("ablation_table_test: ok")
