#!/usr/bin/python3
"""Exact resume and fault handling of the coordinator/worker runtime (issue: coordinator and workers).

usage: runtime_tests.py TRAIN_RUNTIME_CHECK MPIRUN_LOCAL WORKDIR

Every run trains the same tiny job (3 curriculum stages of 4 steps, dp=2 under mpirun: coordinator
+ 2 workers) on the pattern source. Checks:
  1. SIGKILL of a worker rank part-way (after the step-4 checkpoint, before the end), then
     --resume auto: the resumed run starts at the last committed checkpoint exactly, has the same
     per-step losses as an uninterrupted run, bit-identical final weights and optimizer state, and
     continues exactly at the checkpoint's sample position (no sample twice, none skipped).
  2. The same with SIGTERM to the coordinator (it checkpoints and exits with status 3).
  3. A non-finite gradient (fault injection at step 3) skips the step on every rank: weights
     after step 3 equal those after step 2, and the skip is counted.
  4. Corrupt records (clips 5 and 6) are skipped with a logged reason naming the clip, once per
     draw: the warnings name exactly the corrupt clips, as many times as the source was asked for
     each (counted by the test source itself), and the checkpoint's corrupt-sample count agrees.
  5. A config error stops the job before any work, naming the key.
The reference run also checks the per-step timing fields of the log (coordinator_s, tokens): the
workers' time for a step lies within the coordinator's wait for it, and a configured step delay
shows up in the coordinator's own time (properties, not wall-clock budgets).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

EXE, MPIRUN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        failures.append(what)


def job(name, extra=""):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cfg = os.path.join(d, "job.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[model]
hidden_size = 32
num_hidden_layers = 2
num_attention_heads = 2
intermediate_size = 64
[parallel]
dp = 2
[data]
text_budget = 4
[train]
seed = 5
micro_batch_size = 1
loss_weighting = "segment_balanced"
short_clip_frames = 3
eval_every = 0
[[curriculum.stage]]
latent_frames = 1
batch_tokens = 64
steps = 4
lr = 3e-3
warmup_steps = 1
[[curriculum.stage]]
latent_frames = 3
batch_tokens = 120
steps = 4
lr = 2e-3
warmup_steps = 1
[[curriculum.stage]]
latent_frames = 5
batch_tokens = 160
steps = 4
lr = 1e-3
warmup_steps = 1
[checkpoint]
dir = "{d}/ckpt"
every = 2
keep_last = 20
{extra}
""")
    return d, cfg


def start(cfg, *args, np=3):
    cmd = [MPIRUN, "-np", str(np), EXE, "--config", cfg, *args] if np > 1 else [EXE, "--config", cfg, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def run(cfg, *args, np=3, timeout=300):
    p = start(cfg, *args, np=np)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


def log_sections(d):
    """The training log split into runs (each begins with a start/resume event)."""
    sections = []
    with open(os.path.join(d, "ckpt", "train_log.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if "event" in j:
                sections.append({"start": j["step"], "steps": []})
            elif not j.get("eval"):
                sections[-1]["steps"].append(j)
    return sections


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def proto_varint_field(data, number):
    """A top-level varint field of a protobuf message, read from the wire format (0 if absent)."""
    def varint(pos):
        v, shift = 0, 0
        while True:
            b = data[pos]
            v |= (b & 0x7F) << shift
            pos += 1
            if not b & 0x80:
                return v, pos
            shift += 7
    pos, value = 0, 0
    while pos < len(data):
        key, pos = varint(pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = varint(pos)
            if field == number:
                value = v
        elif wire == 1:
            pos += 8
        elif wire == 2:
            n, pos = varint(pos)
            pos += n
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return value


def wait_for(path, proc, seconds=240):
    t0 = time.time()
    while not os.path.exists(path):
        if proc.poll() is not None:
            return False
        if time.time() - t0 > seconds:
            return False
        time.sleep(0.05)
    return True


def committed_steps(d):
    """Steps whose checkpoint is committed (its DONE marker exists)."""
    root = os.path.join(d, "ckpt")
    return sorted(int(n[5:]) for n in os.listdir(root)
                  if n.startswith("step_") and len(n) == 13 and os.path.exists(os.path.join(root, n, "DONE")))


def compare_with_reference(ref_dir, d, label, expect_start):
    """The resumed run starts at `expect_start` (the last checkpoint committed before the
    interruption) and reproduces the uninterrupted run from there on, bit for bit."""
    ref = log_sections(ref_dir)[0]["steps"]
    check([s["step"] for s in ref] == list(range(1, 13)), f"{label}: the reference log has steps 1..12")
    secs = log_sections(d)
    check(len(secs) == 2, f"{label}: the log has the interrupted run and the resumed run ({len(secs)} sections)")
    if len(secs) != 2:
        return
    resumed = secs[-1]
    start = resumed["start"]
    check(start == expect_start, f"{label}: resumed at the last committed checkpoint, step {expect_start} (got {start})")
    check(4 <= start < 12, f"{label}: the interruption landed part-way (resumed at step {start} of 12)")
    got = {s["step"]: s for s in resumed["steps"]}
    check(sorted(got) == list(range(start + 1, 13)), f"{label}: resumed run did steps {start + 1}..12")
    check(len(got) > 0, f"{label}: there are resumed steps to compare ({len(got)})")
    same_loss = len(got) > 0 and all(got[k]["loss"] == ref[k - 1]["loss"] for k in got)
    check(same_loss, f"{label}: per-step losses of the {len(got)} resumed steps equal the uninterrupted run's exactly")
    before = [s for s in secs[0]["steps"] if s["step"] <= start]
    check(len(before) == start and all(s["loss"] == ref[s["step"] - 1]["loss"] for s in before),
          f"{label}: the interrupted run's steps 1..{start} equal the uninterrupted run's")
    same_samples = len(got) > 0 and all(got[k]["samples"] == ref[k - 1]["samples"] for k in got)
    check(same_samples, f"{label}: each resumed step drew the same samples as the uninterrupted run")
    # Within each stage the sample ranges of the effective run are contiguous: nothing twice, no gap.
    effective = [s for s in secs[0]["steps"] if s["step"] <= start] + resumed["steps"]
    contiguous = True
    for a, b in zip(effective, effective[1:]):
        if a["stage"] == b["stage"] and a["samples"][1] != b["samples"][0]:
            contiguous = False
    check(contiguous and len(effective) == 12, f"{label}: samples are contiguous per stage over 12 effective steps")
    final = os.path.join(d, "ckpt", "step_00000012")
    ref_final = os.path.join(ref_dir, "ckpt", "step_00000012")
    for name in ("model.safetensors", "optimizer.safetensors"):
        check(read_bytes(os.path.join(final, name)) == read_bytes(os.path.join(ref_final, name)),
              f"{label}: final {name} is bit-identical to the uninterrupted run's")


def main():
    os.makedirs(WORK, exist_ok=True)
    print("reference: uninterrupted run")
    ref_dir, cfg = job("reference")
    rc, out = run(cfg)
    check(rc == 0, f"reference run exits 0 (got {rc})")
    if rc != 0:
        print(out)
        sys.exit(1)
    # The timing fields of every step (bench/run training): the coordinator's own time is present
    # and non-negative; the reporting worker's compute + data time happened while the coordinator
    # waited for that step (nested intervals, so step_s >= compute_s + data_wait_s whatever the load).
    steps = log_sections(ref_dir)[0]["steps"]
    own = [s.get("coordinator_s", -1) for s in steps]
    check(all(0 <= x for x in own), "every step logs the coordinator's own time (coordinator_s >= 0)")
    nested = [s["step"] for s in steps if not (0 < s["compute_s"] and s["compute_s"] + s["data_wait_s"] <= s["step_s"] + 1e-6)]
    check(not nested, f"each step's worker compute + data time lies within the coordinator's wait (violations: {nested})")
    check(all(s["tokens"] == round(s["tokens_per_s"] * s["step_s"]) for s in steps),
          "every step logs its tokens (= tokens_per_s x step_s)")
    check(os.path.exists(os.path.join(ref_dir, "ckpt", "step_00000012", "DONE")), "reference: final checkpoint written")

    print("1. SIGKILL of a worker rank, then --resume auto")
    # 150 ms per step (as in 2): the kill must find the run between the step-4 checkpoint and the
    # end. The delay is the coordinator sleeping before each step; results do not change.
    d, cfg = job("sigkill", "[debug]\nstep_delay_ms = 150\n")
    p = start(cfg)
    ok = wait_for(os.path.join(d, "ckpt", "step_00000004", "DONE"), p)
    check(ok, "interrupted run reached the step-4 checkpoint")
    worker_pid = int(open(os.path.join(d, "ckpt", "pids", "2")).read())
    os.kill(worker_pid, signal.SIGKILL)
    out, _ = p.communicate(timeout=120)
    check(p.returncode != 0, f"the job stops when a worker dies (exit {p.returncode})")
    at_kill = committed_steps(d)
    check(bool(at_kill) and 4 <= at_kill[-1] < 12,
          f"the kill landed part-way: committed checkpoints {at_kill}, none for step 12")
    rc, out2 = run(cfg, "--resume", "auto")
    check(rc == 0, f"resumed run exits 0 (got {rc})")
    if rc != 0:
        print(out2)
    compare_with_reference(ref_dir, d, "SIGKILL", at_kill[-1] if at_kill else -1)

    print("2. SIGTERM to the coordinator, then --resume auto")
    # 150 ms per step: the signal must find the run still going (12 steps otherwise end in ~0.5 s,
    # and an idle machine once finished them before the signal arrived). Results do not change.
    d, cfg = job("sigterm", "[debug]\nstep_delay_ms = 150\n")
    p = start(cfg)
    ok = wait_for(os.path.join(d, "ckpt", "step_00000004", "DONE"), p)
    check(ok, "interrupted run reached the step-4 checkpoint")
    os.kill(int(open(os.path.join(d, "ckpt", "pids", "0")).read()), signal.SIGTERM)
    out, _ = p.communicate(timeout=120)
    check(p.returncode == 3, f"SIGTERM: the coordinator checkpoints and exits 3 (got {p.returncode})")
    at_stop = committed_steps(d)
    # The delay is the coordinator's own time (it sleeps before dispatching each step).
    delayed = log_sections(d)[0]["steps"]
    check(bool(delayed) and all(s["coordinator_s"] >= 0.150 for s in delayed),
          "with step_delay_ms = 150 every step's coordinator_s is at least 0.150 s")
    rc, out2 = run(cfg, "--resume", "auto")
    check(rc == 0, f"resumed run exits 0 (got {rc})")
    if rc != 0:
        print(out2)
    compare_with_reference(ref_dir, d, "SIGTERM", at_stop[-1] if at_stop else -1)

    print("3. non-finite gradient at step 3 on one of two data-parallel ranks")
    d, cfg = job("nonfinite", "[debug]\nnonfinite_at_step = 3\nnonfinite_dp_rank = 1\n")
    with open(cfg) as f:
        text = f.read().replace("every = 2", "every = 1")
    with open(cfg, "w") as f:
        f.write(text)
    rc, out = run(cfg, np=3)
    check(rc == 0, f"run with a poisoned step completes (exit {rc})")
    steps = log_sections(d)[0]["steps"]
    check(len(steps) == 12 and steps[2]["skipped"] and not any(s["skipped"] for i, s in enumerate(steps) if i != 2),
          "exactly step 3 is reported skipped (the poisoned rank's NaN reached the other rank's decision)")
    ck = lambda k, f: read_bytes(os.path.join(d, "ckpt", f"step_{k:08d}", f))
    check(ck(2, "model.safetensors") == ck(3, "model.safetensors"), "weights after the skipped step equal those before it")
    check(ck(2, "optimizer.safetensors") == ck(3, "optimizer.safetensors"),
          "optimizer moments and its step counter after the skipped step equal those before it")
    check(ck(3, "model.safetensors") != ck(4, "model.safetensors"), "the next step updates the weights again")
    check(proto_varint_field(ck(3, "training_state.pb"), 5) == 1, "the checkpoint counts one skipped step")
    check("update skipped" in out, "the skip is logged")

    print("3b. a run that only skips stops: consecutive non-finite steps")
    d, cfg = job("diverged", "[debug]\nnonfinite_at_step = 3\nnonfinite_steps = 100\n")
    with open(cfg) as f:
        text = f.read().replace("every = 2", "every = 1").replace("eval_every = 0", "eval_every = 0\nmax_consecutive_skips = 3")
    with open(cfg, "w") as f:
        f.write(text)
    rc, out = run(cfg, np=3)
    check(rc == 5, f"the job stops with the diverged status 5 (got {rc})")
    check("3 consecutive steps had a non-finite loss or gradient" in out and "step_00000004" in out,
          "the error counts the steps and names the last good checkpoint")
    ckpts = sorted(n for n in os.listdir(os.path.join(d, "ckpt")) if n.startswith("step_") and not n.endswith(".tmp"))
    check(ckpts and ckpts[-1] == "step_00000004", f"no checkpoint after the third skipped step (newest: {ckpts[-1:]})")
    events = [json.loads(l) for l in open(os.path.join(d, "ckpt", "train_log.jsonl")) if '"event"' in l]
    check(any(e.get("event") == "diverged" and e.get("step") == 5 for e in events), "the log records the divergence at step 5")

    print("4. corrupt records")
    d, cfg = job("corrupt")
    fetch_log = os.path.join(d, "fetches.txt")
    rc, out = run(cfg, "--corrupt", "5,6", "--fetch-log", fetch_log, np=3)
    check(rc == 0, f"run with corrupt records completes (exit {rc})")
    # How often each clip was drawn, as the test source itself recorded it (one line per fetch).
    drawn = {}
    for line in open(fetch_log):
        drawn[int(line)] = drawn.get(int(line), 0) + 1
    check(drawn.get(5, 0) >= 1 and drawn.get(6, 0) >= 1,
          f"the corrupt clips were drawn (clip 5: {drawn.get(5, 0)}, clip 6: {drawn.get(6, 0)} times)")
    warned = {}
    for m in re.finditer(r"skipping sample \d+ \(clip (\d+)\): clip (\d+): record checksum mismatch", out):
        check(m.group(1) == m.group(2), f"the warning names the clip whose record failed ({m.group(0)})")
        warned[int(m.group(1))] = warned.get(int(m.group(1)), 0) + 1
    check(warned == {5: drawn.get(5, 0), 6: drawn.get(6, 0)},
          f"one warning per draw of a corrupt clip, no other clip named (warned {warned})")
    total = drawn.get(5, 0) + drawn.get(6, 0)
    state = read_bytes(os.path.join(d, "ckpt", "step_00000012", "training_state.pb"))
    counted = proto_varint_field(state, 6)  # TrainingState.corrupt_samples (proto/training.proto)
    check(counted == total, f"the checkpoint counts {total} corrupt samples (got {counted})")
    clean = log_sections(ref_dir)[0]["steps"]
    check(log_sections(d)[0]["steps"][-1]["samples"] == clean[-1]["samples"],
          "corrupt samples keep their place: the run drew the same samples as the clean one")

    print("5. config error")
    d, cfg = job("badconfig", "[trainer]\nsteps = 3\n")
    rc, out = run(cfg, np=1)
    check(rc != 0 and "unknown key 'trainer.steps'" in out, "unknown key stops the job, naming the key")
    check(not os.path.exists(os.path.join(d, "ckpt", "step_00000002")), "no work was done")

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("runtime: all checks passed")


if __name__ == "__main__":  # tests/coordinator/liveness_tests.py imports the helpers
    main()
