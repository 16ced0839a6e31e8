#!/usr/bin/python3
"""Chaos soak for the distributed learner (issue 19, section 3; docs/chaos-soak.md).

Runs the learner, reward servers and rollout workers on ShapeWorld on 127.0.0.1 (free ports),
supervising them itself as `maskgrpo launch` does (the launcher stops everything when a child
dies, so it cannot be the supervisor here), while a seeded schedule kills (-9) and pauses
(SIGSTOP/SIGCONT) them: rollout workers, reward servers, the learner, the learner during a
checkpoint write and during a weight fetch (both through the learner's test-only failpoints),
and overlapping faults. Killed processes are restarted by this script. At the end the
invariants are checked from the learner's run folder (ledger.jsonl, checkpoints/) and its
status (/metrics), and a report is printed and written as JSON.

  chaos_soak.py --bin build/bin --src . --out DIR [--minutes 12 --seed 7 --updates 0]
  chaos_soak.py --ci --bin build/bin --src . --out DIR       the short CI variant
  chaos_soak.py --check RUN_DIR --bin build/bin --target N   the checker alone, on a run folder
  chaos_soak.py --self-test                                  the checker on doctored ledgers

Exit status: 0 when every invariant held and the run reached its target version, 1 otherwise,
77 only when the environment lacks something (binaries, base model, free ports).
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

SKIP = 77

# ----------------------------------------------------------------------------------------
# The checker: invariants over the ledger and the run folder.


def read_ledger(path):
    """Lines of ledger.jsonl as dicts; unparseable (torn) lines are counted, not used."""
    events, torn = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                e = json.loads(raw)
            except ValueError:
                torn += 1
                continue
            if not isinstance(e, dict) or "event" not in e or "inc" not in e:
                torn += 1
                continue
            events.append(e)
    return events, torn


class Check:
    def __init__(self):
        self.results = collections.OrderedDict()

    def add(self, name, held, detail):
        prev = self.results.get(name)
        if prev is not None:  # several findings for one invariant: all must hold
            held = held and prev["held"]
            detail = prev["detail"] + "; " + detail if detail not in prev["detail"] else prev["detail"]
        self.results[name] = {"held": bool(held), "detail": detail}

    def ok(self):
        return all(r["held"] for r in self.results.values())


def check_ledger(events, target, chk):
    """The ledger invariants (docs/chaos-soak.md). Returns figures for the report."""
    by_inc = collections.OrderedDict()
    for i, e in enumerate(events):
        e["_pos"] = i
        by_inc.setdefault(e["inc"], []).append(e)
    starts = [e for e in events if e["event"] == "start"]
    figures = {"incarnations": len(starts)}
    if not starts:
        chk.add("run_reaches_target", False, "the ledger has no start event")
        return figures
    for inc, evs in by_inc.items():
        if evs[0]["event"] != "start":
            chk.add("ledger_well_formed", False, "incarnation %s does not begin with a start event" % inc)
    # Snapshots by (incarnation, seq).
    snapshots = {}
    for e in events:
        if e["event"] == "checkpoint_snapshot":
            snapshots[(e["inc"], e["seq"])] = e

    # --- versions strictly increasing across restarts -----------------------------------
    committed_max = -1   # highest checkpoint commit recorded so far (any incarnation)
    published_max = 0    # highest version published so far
    bad_versions = []
    for start in starts:
        inc = start["inc"]
        v0 = start["version"]
        if v0 < committed_max:
            bad_versions.append("incarnation %s resumed at %d below the committed checkpoint %d" % (inc, v0, committed_max))
        if v0 > published_max:
            bad_versions.append("incarnation %s resumed at %d above any version published before (%d)" % (inc, v0, published_max))
        last = v0
        for e in by_inc[inc]:
            if e["event"] == "update":
                if e["version"] != last + 1:
                    bad_versions.append("incarnation %s published %d after %d" % (inc, e["version"], last))
                last = e["version"]
                published_max = max(published_max, last)
            elif e["event"] == "checkpoint":
                committed_max = max(committed_max, e["version"])
            elif e["event"] in ("checkpoint_snapshot", "finished", "stopped") and e["version"] != last:
                bad_versions.append("incarnation %s: %s at %d while at version %d" % (inc, e["event"], e["version"], last))
    chk.add("versions_strictly_increasing", not bad_versions,
            "; ".join(bad_versions[:5]) if bad_versions else
            "%d incarnations; each resumed at or above the last committed checkpoint and published +1 each update" % len(starts))

    # --- the surviving history: the chain of snapshots the final incarnation descends from ---
    chain = []  # (incarnation, cut position or None for all)
    inc = starts[-1]["inc"]
    cut = None
    seen = set()
    broken = None
    while True:
        if inc in seen:
            broken = "the resume chain loops at %s" % inc
            break
        seen.add(inc)
        chain.append((inc, cut))
        start = by_inc[inc][0]
        rf = start.get("resumed_from")
        if not rf:
            break  # a fresh start: the chain is complete
        snap = snapshots.get((rf.get("incarnation"), rf.get("seq")))
        if snap is None:
            broken = "incarnation %s resumed from snapshot %s/%s, which the ledger does not hold" % (
                inc, rf.get("incarnation"), rf.get("seq"))
            break
        if snap["version"] != rf.get("version") or snap["version"] != start["version"]:
            broken = "incarnation %s resumed at %s from a snapshot of version %s" % (inc, start["version"], snap["version"])
            break
        inc, cut = snap["inc"], snap["_pos"]
    chain.reverse()
    chk.add("resume_chain_complete", broken is None,
            broken or "%d of %d incarnations on the surviving chain, back to a fresh start" % (len(chain), len(starts)))
    surviving = []
    for inc, cut in chain:
        surviving.extend(e for e in by_inc[inc] if cut is None or e["_pos"] <= cut)

    # --- replay: admissions, updates, stale evictions, resumed queues --------------------
    admitted = collections.Counter()
    trained = collections.Counter()
    stale = set()
    queue = []
    problems_once, problems_queue = [], []
    first = True
    for e in surviving:
        ev = e["event"]
        if ev == "start":
            if not first and list(e.get("queued", [])) != queue:
                problems_queue.append("incarnation %s restored queue %s, the history before its snapshot leaves %s" % (
                    e["inc"], e.get("queued"), queue))
            queue = list(e.get("queued", []))
            first = False
        elif ev == "admit":
            admitted[e["lease"]] += 1
            queue.append(e["lease"])
        elif ev == "stale":
            stale.add(e["lease"])
            if e["lease"] in queue:
                queue.remove(e["lease"])
            else:
                problems_once.append("stale eviction of %s, which was not queued" % e["lease"])
        elif ev == "update":
            for lease in e["leases"]:
                trained[lease] += 1
                if lease in queue:
                    queue.remove(lease)
                else:
                    problems_once.append("update %d trained on %s, which was not queued" % (e["version"], lease))
        elif ev == "checkpoint_snapshot":
            if list(e.get("queued", [])) != queue:
                problems_queue.append("snapshot %s/%s holds queue %s, the history says %s" % (
                    e["inc"], e["seq"], e.get("queued"), queue))
    twice = [l for l, n in admitted.items() if n > 1]
    chk.add("no_lease_admitted_twice", not twice,
            ("leases admitted twice: %s" % twice[:5]) if twice else
            "%d leases admitted on the surviving history, each once" % len(admitted))
    final_queue = set(queue)
    for lease, n in admitted.items():
        t = trained.get(lease, 0)
        if t > 1:
            problems_once.append("%s trained %d times" % (lease, t))
        elif t == 0 and lease not in stale and lease not in final_queue:
            problems_once.append("%s admitted, never trained, not evicted as stale, not queued" % lease)
    for lease in trained:
        if lease not in admitted and not lease.startswith("restored:"):
            problems_once.append("%s trained without an admission on the surviving history" % lease)
    n_trained = sum(1 for l in admitted if trained.get(l, 0) == 1)
    chk.add("admitted_trained_once_or_queued", not problems_once,
            "; ".join(problems_once[:5]) if problems_once else
            "%d trained once, %d evicted as stale (prompt re-issued), %d still queued" % (
                n_trained, len([l for l in admitted if l in stale]), len(final_queue)))
    chk.add("checkpoint_queue_consistent", not problems_queue,
            "; ".join(problems_queue[:3]) if problems_queue else
            "every snapshot and every resume holds exactly the queue the history implies")

    # Admissions lost with a crashed incarnation (after its last surviving snapshot) and
    # admitted again later: expected, counted for the report.
    all_admits = collections.Counter(e["lease"] for e in events if e["event"] == "admit")
    surviving_ids = {id(e) for e in surviving}
    lost = [e for e in events if id(e) not in surviving_ids]
    figures.update({
        "surviving_events": len(surviving),
        "lost_events": len(lost),
        "lost_admissions": sum(1 for e in lost if e["event"] == "admit"),
        "lost_updates": sum(1 for e in lost if e["event"] == "update"),
        "readmitted_after_loss": sum(1 for l, n in all_admits.items() if n > 1),
        "admitted": len(admitted),
        "trained": n_trained,
        "stale_evicted": len(stale),
        "final_queue": len(final_queue),
    })

    # --- the target version ----------------------------------------------------------------
    final_version = max([e["version"] for e in surviving if e["event"] == "update"] + [starts[-1]["version"]])
    finished = [e for e in events if e["event"] == "finished"]
    reached = bool(finished) and finished[-1]["version"] == target and final_version == target
    chk.add("run_reaches_target", reached,
            "finished at version %s, target %d" % (finished[-1]["version"] if finished else "none (no finished event)", target))
    figures["final_version"] = final_version
    return figures


def safetensors_nonfinite(path):
    """Names of float tensors with NaN/Inf in a safetensors file (F32/F64/F16 checked)."""
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    bad, checked = [], 0
    kinds = {"F32": np.float32, "F64": np.float64, "F16": np.float16}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] not in kinds:
            continue
        a, b = meta["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=kinds[meta["dtype"]])
        checked += 1
        if not np.isfinite(arr).all():
            bad.append(name)
    return checked, bad


def check_checkpoints(run_dir, bin_dir, learner_config, chk):
    """Every kept checkpoint loads as a resume would, with finite weights and optimiser state."""
    root = os.path.join(run_dir, "checkpoints")
    dirs = sorted(d for d in os.listdir(root) if d.startswith("v")) if os.path.isdir(root) else []
    latest = open(os.path.join(root, "latest")).read().strip() if os.path.exists(os.path.join(root, "latest")) else ""
    results, loadable, finite = [], True, True
    for d in dirs:
        path = os.path.join(root, d)
        p = subprocess.run([os.path.join(bin_dir, "learner"), "--config", learner_config, "--threads", "1",
                            "--verify-checkpoint", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {"dir": path, "ok": False, "error": (p.stderr or p.stdout)[-400:]}
        r["exit"] = p.returncode
        # A folder left half written by a kill (no learner_state.pb) is not a committed
        # checkpoint; `latest` never points at one. It must not load, and is reported.
        committed = os.path.exists(os.path.join(path, "learner_state.pb"))
        r["committed"] = committed
        if "error" in r:
            if committed or d == latest:
                loadable = False
        elif r.get("nonfinite"):
            finite = False
        results.append(r)
    final_model = os.path.join(run_dir, "model.safetensors")
    model_checked = None
    if os.path.exists(final_model):
        n, bad = safetensors_nonfinite(final_model)
        model_checked = {"tensors": n, "nonfinite": bad}
        finite = finite and not bad
    verified = [r for r in results if "error" not in r]
    chk.add("checkpoints_loadable", loadable and bool(latest) and latest in dirs,
            "latest=%s; %d of %d kept folders load as a resume would (%s)" % (
                latest or "none", len(verified), len(dirs),
                "; ".join("%s: %s" % (os.path.basename(r["dir"]), r.get("error", "ok")[:160]) for r in results)))
    chk.add("no_nonfinite_weights_or_optimizer", finite and bool(verified),
            "%s; final model.safetensors: %s" % (
                "; ".join("%s: %d tensors (%d optimiser) nonfinite=%s" % (
                    os.path.basename(r["dir"]), r["tensors_checked"], r["optimizer_tensors"], r["nonfinite"])
                    for r in verified) or "no checkpoint verified",
                model_checked))
    return results


# ----------------------------------------------------------------------------------------
# The supervisor and the fault schedule.


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """In the child before exec: SIGKILL when the soak itself dies, even by kill -9 or a ctest
    timeout, so that no learner, worker or reward server outlives it."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Proc:
    def __init__(self, name, argv, log_dir, env=None):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = os.path.join(log_dir, name + ".log")
        self.p = None
        self.paused = False
        self.expect_exit = False  # killed by us: its end is no surprise
        self.starts = 0

    def start(self):
        log = open(self.log_path, "ab")
        log.write(("\n==== start %d at %.3f: %s\n" % (self.starts, time.time(), " ".join(self.argv))).encode())
        log.flush()
        self.p = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                  start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        self.paused = False
        self.expect_exit = False
        self.starts += 1

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def kill(self):
        if self.p is None:
            return
        self.expect_exit = True
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.paused = False


def socket_owner_port_pids(port, pids):
    """Which of `pids` owns the local TCP socket on `port` (via /proc), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[1].split(":")[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", link)
                if m and m.group(1) in inodes:
                    return pid
        except OSError:
            continue
    return None


class LogWatch:
    """Reads new lines of a growing log file."""

    def __init__(self, path):
        self.path, self.offset = path, 0

    def skip_to_end(self):
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def new_lines(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        return data[:cut].decode(errors="replace").splitlines()


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=1.0) as r:
            text = r.read().decode()
    except Exception:  # noqa: BLE001 - down, paused or restarting
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, _, value = line.rpartition(" ")
        if key.startswith("maskgrpo_learner_"):
            try:
                out[key] = float(value)
            except ValueError:
                pass
    return out


KINDS = ["kill_worker", "pause_worker", "kill_reward", "pause_reward", "kill_learner", "pause_learner",
         "kill_learner_in_checkpoint", "kill_in_weight_fetch", "kill_mid_weight_stream", "overlap"]
# The learner's failpoint (learner/ledger.h) that each failpoint kind arms.
FAILPOINT_OF = {"kill_learner_in_checkpoint": "checkpoint_pause", "kill_in_weight_fetch": "weights_pause",
                "kill_mid_weight_stream": "weights_midstream_pause"}


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.out = os.path.abspath(a.out)
        self.run_dir = os.path.join(self.out, "run")
        self.log_dir = os.path.join(self.out, "logs")
        self.arm_dir = os.path.join(self.out, "failpoints")
        # A fresh run every time: an old run folder would be resumed.
        for d in (self.run_dir, self.log_dir, self.arm_dir):
            shutil.rmtree(d, ignore_errors=True)
        for d in (self.out, self.log_dir, self.arm_dir):
            os.makedirs(d, exist_ok=True)
        self.procs = collections.OrderedDict()
        self.faults = []
        self.pending = []  # (time, action, proc name, fault)
        self.unexpected = []
        self.t0 = time.time()
        self.status = None
        self.status_time = None

    # -- set-up --
    def write_configs(self):
        a = self.a
        self.learner_cfg = os.path.join(self.out, "learner.textproto")
        with open(self.learner_cfg, "w") as f:
            f.write("""train {
  init_model: "%s/models/shapeworld_base.safetensors"
  group_size: 4 groups_per_update: 2 updates: %d
  rollout { steps: 4 }
  learner { minibatches: 1 }
  eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 6 sampling { steps: 4 } }
  eval_every: 0 checkpoint_every: %d keep_checkpoints: 3
  runtime { threads: 1 }
}
max_policy_lag: 1
lease_timeout_ms: %d
max_leases_per_request: 4
weights_versions_kept: 2
linger_ms: 4000
""" % (os.path.abspath(a.src), a.updates, a.checkpoint_every, a.lease_timeout_ms))

    def build_procs(self):
        a, b = self.a, os.path.abspath(self.a.bin)
        src = os.path.abspath(a.src)
        self.learner_port, self.learner_metrics = free_port(), free_port()
        reward_ports = [free_port() for _ in range(a.reward_servers)]
        env = dict(os.environ)
        env["MASKGRPO_FAILPOINT"] = ",".join("%s:%d" % (fp, a.failpoint_ms) for fp in sorted(FAILPOINT_OF.values()))
        env["MASKGRPO_FAILPOINT_ARM_DIR"] = self.arm_dir
        for i, port in enumerate(reward_ports):
            self.procs["reward%d" % i] = Proc("reward%d" % i, [
                b + "/reward_server", "--config", src + "/configs/reward_server.textproto",
                "--listen", "127.0.0.1:%d" % port], self.log_dir)
        self.procs["learner"] = Proc("learner", [
            b + "/learner", "--config", self.learner_cfg, "--out", self.run_dir,
            "--listen", "127.0.0.1:%d" % self.learner_port,
            "--metrics-listen", "127.0.0.1:%d" % self.learner_metrics, "--threads", "1"], self.log_dir, env)
        rewards = ",".join("127.0.0.1:%d" % p for p in reward_ports)
        for i in range(a.workers):
            self.procs["worker%d" % i] = Proc("worker%d" % i, [
                b + "/rollout_worker", "--config", src + "/configs/rollout_worker.textproto",
                "--learner", "127.0.0.1:%d" % self.learner_port, "--reward-servers", rewards,
                "--worker-id", "worker%d" % i, "--threads", "1"], self.log_dir)

    def stop_all(self):
        for p in self.procs.values():
            if p.alive():
                p.signal(signal.SIGCONT)
                p.kill()
        for f in os.listdir(self.arm_dir):
            os.remove(os.path.join(self.arm_dir, f))

    # -- progress from the ledger --
    def ledger(self):
        path = os.path.join(self.run_dir, "ledger.jsonl")
        return read_ledger(path)[0] if os.path.exists(path) else []

    def finished(self):
        return any(e["event"] == "finished" for e in self.ledger())

    def now(self):
        return time.time() - self.t0

    # -- faults --
    def new_fault(self, kind, target, **kw):
        f = {"id": len(self.faults), "kind": kind, "target": target, "start": self.now(), "healed": None}
        f.update(kw)
        self.faults.append(f)
        print("[%7.1fs] fault %d: %s %s %s" % (f["start"], f["id"], kind, target,
                                                  " ".join("%s=%s" % kv for kv in kw.items())), flush=True)
        return f

    def schedule(self, delay, action, name, fault):
        self.pending.append((self.now() + delay, action, name, fault))

    def pick(self, prefix):
        names = [n for n, p in self.procs.items() if n.startswith(prefix) and p.alive() and not p.paused]
        return self.rng.choice(names) if names else None

    def inject(self, kind, parent=None):
        a, rng = self.a, self.rng
        if kind == "overlap":
            # Two or three faults on different processes, each started before the previous heals.
            kinds = rng.sample(["kill_worker", "pause_worker", "kill_reward", "pause_reward", "kill_learner",
                                "pause_learner"], rng.choice([2, 3]))
            f = self.new_fault("overlap", "+".join(kinds))
            for i, k in enumerate(kinds):
                if i:
                    self.service(rng.uniform(0.3, 1.5))
                self.inject(k, parent=f)
            return
        prefix = kind.split("_")[-1]  # kill_worker -> worker (used by the simple kinds)
        if kind in ("kill_worker", "kill_reward", "kill_learner"):
            name = self.pick(prefix)
            if name is None:
                return
            down = rng.uniform(0.5, 4.0)
            f = self.new_fault(kind, name, down_s=round(down, 2), parent=parent and parent["id"])
            self.procs[name].kill()
            self.schedule(down, "restart", name, f)
        elif kind in ("pause_worker", "pause_reward", "pause_learner"):
            name = self.pick(prefix)
            if name is None:
                return
            pause = rng.uniform(2.0, a.max_pause_s)
            f = self.new_fault(kind, name, pause_s=round(pause, 2), parent=parent and parent["id"])
            self.procs[name].signal(signal.SIGSTOP)
            self.procs[name].paused = True
            self.schedule(pause, "cont", name, f)
        elif kind in FAILPOINT_OF:
            fp = FAILPOINT_OF[kind]
            learner = self.procs["learner"]
            if not learner.alive() or learner.paused:
                return
            victim_kind = "learner" if fp == "checkpoint_pause" else rng.choice(["learner", "worker"])
            down = rng.uniform(0.5, 3.0)
            watch = LogWatch(learner.log_path)
            watch.skip_to_end()
            arm = os.path.join(self.arm_dir, fp)
            open(arm, "w").close()
            t_armed = self.now()
            hit = None
            while self.now() - t_armed < a.failpoint_wait_s and hit is None:
                for line in watch.new_lines():
                    if "failpoint " + fp in line:
                        hit = line
                        break
                if hit is None:
                    self.service(0.05, allow_new=False)
                    if not learner.alive():
                        break
            os.remove(arm)
            if hit is None:
                f = self.new_fault(kind, "learner", missed=True, waited_s=round(self.now() - t_armed, 1))
                f["healed"] = self.now()
                return
            if victim_kind == "learner":
                name = "learner"
            else:
                m = re.search(r"127\.0\.0\.1:(\d+)", hit)
                workers = {p.p.pid: n for n, p in self.procs.items() if n.startswith("worker") and p.alive()}
                pid = socket_owner_port_pids(int(m.group(1)), list(workers)) if m else None
                name = workers.get(pid) or (rng.choice(sorted(workers.values())) if workers else None)
                if name is None:
                    return
            f = self.new_fault(kind, name, window=hit.split("failpoint ")[1][:120], down_s=round(down, 2))
            self.procs[name].kill()
            self.schedule(down, "restart", name, f)

    def heal_due(self):
        now = self.now()
        due = [x for x in self.pending if x[0] <= now]
        self.pending = [x for x in self.pending if x[0] > now]
        for _, action, name, f in due:
            p = self.procs[name]
            if action == "cont":
                p.signal(signal.SIGCONT)
                p.paused = False
            elif action == "restart":
                if name.startswith("worker") and self.finished():
                    pass  # the run is over: a worker would only be told so and exit
                else:
                    p.start()
            f["healed"] = self.now()

    def check_exits(self):
        for name, p in self.procs.items():
            if p.p is None or p.alive() or p.expect_exit:
                continue
            rc = p.p.returncode
            done = self.finished()
            if rc == 0 and (name == "learner" or name.startswith("worker")) and done:
                p.expect_exit = True  # finished cleanly
                continue
            self.unexpected.append({"name": name, "rc": rc, "time": round(self.now(), 1), "log": p.log_path})
            print("[%7.1fs] UNEXPECTED: %s exited with %s; restarting (log %s)" % (self.now(), name, rc, p.log_path),
                  flush=True)
            if not (done and name.startswith("worker")):
                p.start()

    def service(self, seconds, allow_new=True):
        """Runs the supervisor for `seconds`: heals due faults, restarts, scrapes status."""
        end = time.time() + seconds
        while True:
            self.heal_due()
            self.check_exits()
            if self.status_time is None or time.time() - self.status_time > 1.0:
                s = scrape(self.learner_metrics)
                self.status_time = time.time()
                if s:
                    self.status = s
            if time.time() >= end:
                return
            time.sleep(min(0.1, max(0.0, end - time.time())))

    def run(self):
        a = self.a
        self.write_configs()
        self.build_procs()
        print("chaos soak: seed %d, %d updates, faults for %.1f min, run folder %s" % (
            a.seed, a.updates, a.minutes, self.run_dir), flush=True)
        for n, p in self.procs.items():
            if n.startswith("reward"):
                p.start()
        time.sleep(0.5)
        self.procs["learner"].start()
        for n, p in self.procs.items():
            if n.startswith("worker"):
                p.start()
        self.t0 = time.time()
        # First every kind once (shuffled, seeded), then kinds drawn at random.
        order = KINDS[:]
        self.rng.shuffle(order)
        deadline = a.timeout_s
        while not self.finished() and self.now() < deadline:
            if self.now() < a.minutes * 60:
                self.service(self.rng.uniform(a.gap_min_s, a.gap_max_s))
                if self.finished():
                    break
                # Faults need a learner that has started training.
                if not any(e["event"] == "update" for e in self.ledger()):
                    continue
                kind = order.pop(0) if order else self.rng.choice(KINDS)
                self.inject(kind)
            else:
                self.service(1.0)
        # Let pending heals happen and the learner linger and exit.
        end = time.time() + 30
        while time.time() < end and (self.pending or self.procs["learner"].alive()):
            self.service(0.5)
        self.elapsed = self.now()
        self.stop_all()

    # -- report --
    def fault_figures(self, events):
        updates = sorted((e["t"] / 1000.0 - self.t0, e["version"], e["inc"]) for e in events if e["event"] == "update")
        gaps = [b[0] - a[0] for a, b in zip(updates, updates[1:]) if a[2] == b[2] and b[1] == a[1] + 1]
        median = statistics.median(gaps) if gaps else 0.0
        finished_at = [e["t"] / 1000.0 - self.t0 for e in events if e["event"] == "finished"]
        for f in self.faults:
            if f["kind"] == "overlap":
                continue
            before = [v for t, v, _ in updates if t <= f["start"]]
            v0 = max(before) if before else 0
            after = [t for t, v, _ in updates if t > f["start"] and v > v0]
            f["progress_s"] = round(after[0] - f["start"], 2) if after else None
            f["lost_s"] = round(max(0.0, after[0] - f["start"] - median), 2) if after else None
            # Faults that began before this one's progress point share its lost time.
            until = after[0] if after else float("inf")
            f["overlapped_by"] = [g["id"] for g in self.faults
                                  if g is not f and g["kind"] != "overlap" and f["start"] < g["start"] < until]
            p = self.procs.get(f["target"])
            # Progress, or (a fault at the target version) the run finishing after it.
            progressed = bool(after) or (v0 >= self.a.updates and any(t > f["start"] for t in finished_at))
            f["recovered"] = progressed and f["healed"] is not None and not f.get("missed") and (
                p is None or p.starts > 0)
        for f in self.faults:
            if f["kind"] == "overlap":
                kids = [g for g in self.faults if g.get("parent") == f["id"]]
                f["members"] = [g["id"] for g in kids]
                f["recovered"] = bool(kids) and all(g["recovered"] for g in kids)
                f["healed"] = max([g["healed"] or 0 for g in kids] or [0])
                lost = [g["lost_s"] for g in kids if g["lost_s"] is not None]
                f["lost_s"] = max(lost) if lost else None
        return median

    def report(self):
        a = self.a
        events, torn = read_ledger(os.path.join(self.run_dir, "ledger.jsonl")) \
            if os.path.exists(os.path.join(self.run_dir, "ledger.jsonl")) else ([], 0)
        chk = Check()
        figures = check_ledger([dict(e) for e in events], a.updates, chk)
        figures["torn_lines"] = torn
        ckpts = check_checkpoints(self.run_dir, a.bin, self.learner_cfg, chk)
        final_status = self.status or {}
        v = final_status.get("maskgrpo_learner_policy_version")
        chk.add("status_at_target", v == a.updates, "last /metrics scrape: policy_version %s" % v)
        # The learner's own counters (restored from each checkpoint, so they cover the surviving
        # history) against the ledger's replay.
        acc = final_status.get('maskgrpo_learner_groups_total{outcome="accepted"}')
        trn = final_status.get('maskgrpo_learner_groups_total{outcome="trained"}')
        chk.add("status_counters_match_ledger", acc == figures.get("admitted") and trn == figures.get("trained"),
                "status: accepted %s, trained %s; ledger (surviving history): admitted %s, trained once %s" % (
                    acc, trn, figures.get("admitted"), figures.get("trained")))
        # The soak's workers send only well-formed groups for leases they were handed, so a
        # group counted invalid is a defect or a misfiled one: a group of a lease lost with a
        # killed learner counts as late (learner/README.md).
        inv = final_status.get('maskgrpo_learner_groups_total{outcome="invalid"}')
        late = final_status.get('maskgrpo_learner_groups_total{outcome="late"}')
        chk.add("no_invalid_groups", inv == 0,
                "status: invalid %s, late %s (surviving history)" % (inv, late))
        chk.add("no_unexpected_exits", not self.unexpected,
                "; ".join("%s rc=%s at %ss" % (u["name"], u["rc"], u["time"]) for u in self.unexpected) or
                "every process ended only when killed by the soak or when the run finished")
        median = self.fault_figures(events)
        missed = [f for f in self.faults if f.get("missed")]
        by_kind = collections.OrderedDict()
        for f in self.faults:
            k = by_kind.setdefault(f["kind"], {"injected": 0, "recovered": 0, "lost": [], "isolated": [], "missed": 0})
            if f.get("missed"):
                k["missed"] += 1
                continue
            k["injected"] += 1
            k["recovered"] += 1 if f["recovered"] else 0
            if f.get("lost_s") is not None:
                k["lost"].append(f["lost_s"])
                if not f.get("overlapped_by") and f["kind"] != "overlap":
                    k["isolated"].append(f["lost_s"])
        all_kinds = set(k for k in KINDS)
        injected = set(k for k, v in by_kind.items() if v["injected"])
        if a.require_all_kinds:
            chk.add("every_fault_kind_injected", all_kinds <= injected,
                    "missing: %s" % sorted(all_kinds - injected) if not all_kinds <= injected else
                    "all %d kinds injected" % len(all_kinds))
        unrecovered = [f for f in self.faults if not f.get("missed") and not f["recovered"]]
        chk.add("every_fault_recovered", not unrecovered,
                "; ".join("fault %d %s %s" % (f["id"], f["kind"], f["target"]) for f in unrecovered) or
                "the run progressed past its pre-fault version after every fault")
        report = {
            "seed": a.seed, "updates": a.updates, "elapsed_s": round(self.elapsed, 1),
            "median_update_interval_s": round(median, 2),
            "faults_by_kind": {k: {"injected": v["injected"], "recovered": v["recovered"], "missed_window": v["missed"],
                                   "lost_s_mean": round(statistics.mean(v["lost"]), 2) if v["lost"] else None,
                                   "lost_s_max": round(max(v["lost"]), 2) if v["lost"] else None,
                                   "isolated": len(v["isolated"]),
                                   "isolated_lost_s_mean": round(statistics.mean(v["isolated"]), 2) if v["isolated"] else None}
                               for k, v in by_kind.items()},
            "faults": self.faults, "invariants": chk.results, "ledger": figures, "checkpoints": ckpts,
            "final_status": final_status, "unexpected_exits": self.unexpected, "ok": chk.ok(),
        }
        with open(os.path.join(self.out, "chaos_report.json"), "w") as f:
            json.dump(report, f, indent=2, default=str)
        print("\n== chaos soak report (seed %d): %.1f s, %d updates, median update interval %.2f s" % (
            a.seed, self.elapsed, a.updates, median))
        print("%-28s %8s %9s %11s %10s %9s %13s" % ("fault kind", "injected", "recovered", "lost mean s", "lost max s",
                                                    "isolated", "isolated mean"))
        for k, v in report["faults_by_kind"].items():
            print("%-28s %8d %9d %11s %10s %9d %13s%s" % (
                k, v["injected"], v["recovered"], v["lost_s_mean"], v["lost_s_max"], v["isolated"],
                v["isolated_lost_s_mean"], "  (window missed %d)" % v["missed_window"] if v["missed_window"] else ""))
        print("ledger: %s" % json.dumps(figures))
        for name, r in chk.results.items():
            print("%-34s %s  %s" % (name, "HELD" if r["held"] else "FAILED", r["detail"][:300]))
        print("report: %s" % os.path.join(self.out, "chaos_report.json"))
        return chk.ok()


# ----------------------------------------------------------------------------------------
# The checker's self-test: it must find violations in doctored ledgers.


def synthetic_ledger():
    """A clean history: fresh start, two updates, a snapshot, a crash that loses an update and an
    admission, a resume, the lost lease re-admitted, and the run finishing at version 4."""
    t = [0]

    def e(inc, event, **kw):
        t[0] += 1
        d = {"inc": inc, "event": event, "t": t[0]}
        d.update(kw)
        return d

    return [
        e("A", "start", version=0, resumed_from=None, queued=[], outstanding=[]),
        e("A", "admit", lease="A-1", policy_version=0), e("A", "admit", lease="A-2", policy_version=0),
        e("A", "update", version=1, leases=["A-1", "A-2"]),
        e("A", "admit", lease="A-3", policy_version=1), e("A", "admit", lease="A-4", policy_version=1),
        e("A", "admit", lease="A-5", policy_version=1),
        e("A", "update", version=2, leases=["A-3", "A-4"]),
        e("A", "checkpoint_snapshot", version=2, seq=1, queued=["A-5"]), e("A", "checkpoint", version=2, seq=1),
        e("A", "admit", lease="A-6", policy_version=2),
        e("A", "update", version=3, leases=["A-5", "A-6"]),  # lost with A's crash
        e("B", "start", version=2, resumed_from={"incarnation": "A", "seq": 1, "version": 2}, queued=["A-5"],
          outstanding=["A-6"]),
        e("B", "admit", lease="A-6", policy_version=2),  # re-submitted after the crash: admitted once on the chain
        e("B", "update", version=3, leases=["A-5", "A-6"]),
        e("B", "admit", lease="B-1", policy_version=3), e("B", "admit", lease="B-2", policy_version=3),
        e("B", "admit", lease="B-3", policy_version=3), e("B", "stale", lease="B-3"),
        e("B", "update", version=4, leases=["B-1", "B-2"]),
        e("B", "checkpoint_snapshot", version=4, seq=1, queued=[]), e("B", "checkpoint", version=4, seq=1),
        e("B", "finished", version=4),
    ]


def self_test():
    def run(events):
        chk = Check()
        check_ledger(json.loads(json.dumps(events)), 4, chk)
        return chk

    failures = []
    clean = run(synthetic_ledger())
    if not clean.ok():
        failures.append("the clean ledger failed: %s" % {k: v for k, v in clean.results.items() if not v["held"]})

    def doctored(name, mutate, expect):
        ev = synthetic_ledger()
        mutate(ev)
        chk = run(ev)
        r = chk.results.get(expect)
        if r is None or r["held"]:
            failures.append("%s: %s was not reported (%s)" % (name, expect, r))
        else:
            print("self-test: %-38s -> %s FAILED as it must: %s" % (name, expect, r["detail"][:120]))

    def train_twice(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "update" and e["version"] == 4)
        ev[i]["leases"] = ["B-1", "A-5"]  # A-5 already trained at version 3
    doctored("a lease trained twice", train_twice, "admitted_trained_once_or_queued")

    def admit_twice(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "admit" and e["lease"] == "B-2")
        ev.insert(i + 1, dict(ev[i], t=ev[i]["t"]))
    doctored("a lease admitted twice", admit_twice, "no_lease_admitted_twice")

    def lose_group(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "stale")
        del ev[i]  # B-3 admitted, then neither trained nor evicted, and not in the final snapshot's queue
    doctored("an admitted group vanishes", lose_group, "checkpoint_queue_consistent")

    def train_unadmitted(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "update" and e["version"] == 4)
        ev[i]["leases"] = ["B-1", "X-9"]
    doctored("an update trains a group never admitted", train_unadmitted, "admitted_trained_once_or_queued")

    def version_back(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "update" and e["version"] == 4)
        ev[i]["version"] = 3
    doctored("a version published twice", version_back, "versions_strictly_increasing")

    def resume_below_commit(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "start" and e["inc"] == "B")
        ev[i]["version"] = 1
        ev[i]["resumed_from"]["version"] = 1
    doctored("a resume below the committed checkpoint", resume_below_commit, "versions_strictly_increasing")

    def wrong_queue(ev):
        i = next(i for i, e in enumerate(ev) if e["event"] == "start" and e["inc"] == "B")
        ev[i]["queued"] = []  # the checkpoint dropped A-5
    doctored("a resume that drops a queued group", wrong_queue, "checkpoint_queue_consistent")

    def not_finished(ev):
        ev.pop()
    doctored("a run that does not finish", not_finished, "run_reaches_target")

    # A torn last line is tolerated by the reader.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for e in synthetic_ledger():
            f.write(json.dumps(e) + "\n")
        f.write('{"inc": "B", "event": "adm')
    events, torn = read_ledger(f.name)
    os.unlink(f.name)
    if torn != 1 or len(events) != len(synthetic_ledger()):
        failures.append("a torn last line was not skipped (torn=%d)" % torn)
    for msg in failures:
        print("self-test FAILED: " + msg)
    print("self-test: %s" % ("ok" if not failures else "FAILED"))
    return not failures


def patch_zip_member(path, member_name, data_offset, payload):
    """Overwrites bytes of a stored (uncompressed) member of a zip file in place and fixes its
    CRC-32 in the local header and the central directory (LibTorch checks it)."""
    import zlib
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member_name)
        content = bytearray(z.read(member_name))
    content[data_offset:data_offset + len(payload)] = payload
    crc = struct.pack("<I", zlib.crc32(bytes(content)) & 0xFFFFFFFF)
    with open(path, "r+b") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len + data_offset)
        f.write(payload)
        f.seek(info.header_offset + 14)
        f.write(crc)
        f.seek(0)
        blob = f.read()
        at = blob.find(b"PK\x01\x02")
        while at >= 0:
            n = struct.unpack("<H", blob[at + 28:at + 30])[0]
            if blob[at + 46:at + 46 + n].decode() == member_name:
                f.seek(at + 16)
                f.write(crc)
                break
            at = blob.find(b"PK\x01\x02", at + 4)


def nan_probe(bin_dir, learner_cfg, checkpoint, work):
    """The finiteness check must be able to fail: a copy of `checkpoint` gets a NaN in one
    weight, another copy a NaN in the optimiser state's largest tensor (an AdamW moment), and
    `learner --verify-checkpoint` must refuse both, naming the tensor."""
    import numpy as np
    nan = np.array([np.nan], dtype=np.float32).tobytes()

    def verify(dst):
        p = subprocess.run([os.path.join(bin_dir, "learner"), "--config", learner_cfg, "--threads", "1",
                            "--verify-checkpoint", dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {"error": p.stderr[-300:]}
        return p.returncode, r

    def copy(tag):
        dst = os.path.join(work, "doctored_%s_%s" % (tag, os.path.basename(checkpoint)))
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(checkpoint, dst)
        return dst

    ok = True
    dst = copy("weight")
    path = os.path.join(dst, "model.safetensors")
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        name, meta = next((k, v) for k, v in sorted(header.items()) if k != "__metadata__" and v["dtype"] == "F32")
        f.seek(8 + n + meta["data_offsets"][0])
        f.write(nan)
    rc, r = verify(dst)
    caught = rc != 0 and (name in r.get("error", "") or any(name in x for x in r.get("nonfinite", [])))
    print("nan probe: NaN in weight %s -> exit %d: %s (%s)" % (
        name, rc, "caught" if caught else "NOT CAUGHT", r.get("error") or r.get("nonfinite")))
    ok = ok and caught
    shutil.rmtree(dst, ignore_errors=True)

    dst = copy("optimizer")
    path = os.path.join(dst, "optimizer.pt")
    with zipfile.ZipFile(path) as z:
        member = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size).filename
    patch_zip_member(path, member, 0, nan)
    rc, r = verify(dst)
    caught = rc != 0 and any(x.startswith("optimizer.") for x in r.get("nonfinite", []))
    print("nan probe: NaN in optimiser record %s -> exit %d: %s (%s)" % (
        member, rc, "caught" if caught else "NOT CAUGHT", r.get("error") or r.get("nonfinite")))
    ok = ok and caught
    shutil.rmtree(dst, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--src", default=".")
    ap.add_argument("--out", default="runs/chaos")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--minutes", type=float, default=12.0, help="inject faults for this long")
    ap.add_argument("--updates", type=int, default=0, help="target version (0: from --minutes)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reward-servers", type=int, default=2)
    ap.add_argument("--checkpoint-every", type=int, default=2)
    ap.add_argument("--lease-timeout-ms", type=int, default=6000)
    ap.add_argument("--gap-min-s", type=float, default=6.0)
    ap.add_argument("--gap-max-s", type=float, default=20.0)
    ap.add_argument("--max-pause-s", type=float, default=8.0)
    ap.add_argument("--failpoint-ms", type=int, default=2000)
    ap.add_argument("--failpoint-wait-s", type=float, default=60.0)
    ap.add_argument("--timeout-s", type=float, default=0, help="give up after this long (0: minutes*2+300)")
    ap.add_argument("--ci", action="store_true", help="the short CI variant")
    ap.add_argument("--check", metavar="RUN_DIR", help="only check an existing run folder")
    ap.add_argument("--target", type=int, default=0, help="with --check: the target version")
    ap.add_argument("--learner-config", help="with --check: the learner config the run used")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()

    if a.self_test:
        return 0 if self_test() else 1
    if a.check:
        events, torn = read_ledger(os.path.join(a.check, "ledger.jsonl"))
        chk = Check()
        figures = check_ledger(events, a.target, chk)
        figures["torn_lines"] = torn
        cfg = a.learner_config or os.path.join(a.check, "config.textproto")
        check_checkpoints(a.check, a.bin, cfg, chk)
        print(json.dumps(figures))
        for name, r in chk.results.items():
            print("%-34s %s  %s" % (name, "HELD" if r["held"] else "FAILED", r["detail"][:300]))
        return 0 if chk.ok() else 1

    if a.ci:
        # About 2.5 minutes here: every kind once (shuffled), then more until 75 s, 36 updates.
        a.minutes = min(a.minutes, 1.25)
        a.updates = a.updates or 36
        a.gap_min_s, a.gap_max_s = 2.0, 4.0
        a.max_pause_s = 5.0
        a.lease_timeout_ms = 5000
        a.failpoint_ms = 1500
        a.failpoint_wait_s = 40.0
        a.timeout_s = a.timeout_s or 240
    a.require_all_kinds = True
    if not a.updates:
        a.updates = max(10, int(a.minutes * 60 / 1.5))  # ~40 updates/min with faults on 2 cores
    if not a.timeout_s:
        a.timeout_s = a.minutes * 120 + 300
    for exe in ("learner", "reward_server", "rollout_worker"):
        if not os.access(os.path.join(a.bin, exe), os.X_OK):
            print("SKIP: %s/%s is not built" % (a.bin, exe))
            return SKIP
    if not os.path.exists(os.path.join(a.src, "models", "shapeworld_base.safetensors")):
        print("SKIP: no models/shapeworld_base.safetensors")
        return SKIP
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("SKIP: python3-numpy is not installed")
        return SKIP
    if not self_test():
        return 1
    soak = Soak(a)

    def on_signal(sig, _frame):
        soak.stop_all()
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        soak.run()
    finally:
        soak.stop_all()
    ok = soak.report()
    ckpt_root = os.path.join(soak.run_dir, "checkpoints")
    latest = open(os.path.join(ckpt_root, "latest")).read().strip() if os.path.exists(
        os.path.join(ckpt_root, "latest")) else None
    probe = bool(latest) and nan_probe(a.bin, soak.learner_cfg, os.path.join(ckpt_root, latest), soak.out)
    report_path = os.path.join(soak.out, "chaos_report.json")
    with open(report_path) as f:
        report = json.load(f)
    report["checker_self_test"] = True  # main() returns before the soak when it fails
    report["nan_probe_caught"] = probe
    report["ok"] = ok and probe
    with open(report_path, "w") as f:
        json.dump(report, f, indent=2, default=str)
    ok = ok and probe
    print("chaos soak: %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
