#!/usr/bin/python3
"""Faults around running jobs: nothing lost, nothing mixed, nothing created by mistake (issue 14).

usage: job_faults_test.py LOONG_EXE WORKDIR

Setup: the bad-input battery's (tests/cli/bad_inputs_test.py: testsrc2 videos -> `loong ingest`
-> `loong text train` -> a 1-step tokenizer -> `loong tokenizer encode`). Then:
  1. Two `loong train` jobs on one checkpoint.dir: the second is refused at once (exit 1) naming
     the first's PID and host; the first finishes with every step in one log section.
  2. kill -9 of `loong tokenizer train` at random moments while it saves every step, 12 times:
     after every kill the directory holds one consistent save (tokenizer.json's step = the weights'
     step, every file matching checksums.json) or a committed save still to be moved into place;
     each restart resumes from exactly the step found, and the last run ends at the configured step.
  3. Two manifest lines with the same video bytes (two captions): the second is reported as a
     duplicate naming the first line, the summary counts 1 ingested, the corpus holds 1 video.
  4. A mistyped --db: `text train`, `text tokenize`, `tokenizer encode` exit 1 and create nothing.
  5. `generate` outputs that would overwrite each other or an input are refused before any work.
  6. `inspect` on a copy of the corpus with one table file damaged (each in turn): exit 1 naming
     the file, never a summary that reads as if the table were empty.
"""
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

# The valid setup of the bad-input battery (same argv: LOONG_EXE WORKDIR): a corpus of testsrc2
# videos, text tokens, a 1-step tokenizer `tok`, its codes, configs built by train_cfg / tok_cfg.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bad_inputs_test import LOONG, W, failures, run, say as check, setup, tok_cfg, train_cfg, write  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def two_jobs_one_checkpoint_dir():
    print("1. two jobs on one checkpoint directory")
    cfg = train_cfg("shared", ckpt=f"{W}/ckpt_shared", replace=[("steps = 2", "steps = 20")],
                    append="[debug]\nstep_delay_ms = 200\n")
    first = subprocess.Popen([LOONG, "train", "--config", cfg, "--no-metrics"], cwd=W, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = f"{W}/ckpt_shared/train_log.jsonl"
    for _ in range(600):  # the first job is training once its log has a step (bounded: 60 s)
        if os.path.exists(log) and '"step": 1' in open(log).read().replace('"step":1', '"step": 1'):
            break
        time.sleep(0.1)
    second = run(["train", "--config", cfg, "--no-metrics", "--resume", "auto"])
    out, err = first.communicate(timeout=300)
    check(second.returncode == 1, f"the second job is refused with exit 1 (got {second.returncode})")
    check(f"PID {first.pid} on host {socket.gethostname()}" in second.stderr,
          f"its error names the holder's PID {first.pid} and host: {second.stderr.strip()[-200:]}")
    check(first.returncode == 0, f"the first job finishes (exit {first.returncode})")
    lines = [json.loads(l) for l in open(log)]
    starts = [l for l in lines if "event" in l]
    steps = [l["step"] for l in lines if "event" not in l and not l.get("eval")]
    check(len(starts) == 1 and steps == list(range(1, 21)),
          f"the log holds one run with steps 1..20, nothing interleaved ({len(starts)} sections, {len(steps)} steps)")


def safetensors_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def fnv1a64(path):
    h = 0xcbf29ce484222325
    with open(path, "rb") as f:
        data = f.read()
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def consistent_step(d):
    """The step of the save in `d`, checked without the product's code; None if it is inconsistent."""
    pending = os.path.join(d, ".save")
    if os.path.exists(os.path.join(pending, "DONE")):
        return "pending"  # a committed save not yet moved into place: the next load finishes it
    sums = json.load(open(os.path.join(d, "checksums.json")))
    for f in ("tokenizer.safetensors", "tokenizer_optimizer.safetensors", "tokenizer.json"):
        if str(fnv1a64(os.path.join(d, f))) != sums[f]:
            return None
    step_json = json.load(open(os.path.join(d, "tokenizer.json")))["steps"]
    step_weights = int(safetensors_metadata(os.path.join(d, "tokenizer.safetensors"))["step"])
    return step_json if step_json == step_weights else None


def kill_during_tokenizer_saves():
    print("2. kill -9 during tokenizer saves")
    out = f"{W}/tok_kill"
    # Long enough that 12 attempts of at most 1.6 s each cannot finish it on a fast idle machine (400
    # steps once finished within 7 attempts); the last run completes the rest.
    steps = 2000
    cfg = tok_cfg("tok_kill", replace=[("steps = 1", f"steps = {steps}"), ("log_every = 1", "log_every = 1000")])
    rng = random.Random(14)
    kills, pending = 0, 0
    previous, expect = 0, None
    for attempt in range(12):
        p = subprocess.Popen([LOONG, "tokenizer", "train", "--db", f"{W}/corpus", "--config", cfg, "--out", out,
                              "--no-metrics"], cwd=W, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.4, 1.6))
        finished = p.poll() is not None
        if not finished:
            p.kill()
        o, e = p.communicate(timeout=60)
        m = re.search(r"resuming tokenizer training from \S+ at step (\d+)", o + e)
        if isinstance(expect, int):
            check(m is not None and int(m.group(1)) == expect,
                  f"restart {attempt}: resumes at the step the directory held ({m.group(1) if m else None} vs {expect})")
        if finished:
            break
        kills += 1
        if not os.path.exists(os.path.join(out, "tokenizer.json")) and not os.path.exists(os.path.join(out, ".save")):
            expect = None
            continue  # killed before the first save
        state = consistent_step(out)
        pending += state == "pending"
        check(state is not None, f"kill {kills}: the directory holds one consistent save ({state})")
        if isinstance(state, int):
            check(state >= previous, f"kill {kills}: no save was lost (step {state} >= {previous})")
            previous = state
        expect = state if isinstance(state, int) else None
    final = run(["tokenizer", "train", "--db", f"{W}/corpus", "--config", cfg, "--out", out, "--no-metrics"], timeout=300)
    check(final.returncode == 0, f"the last run finishes (exit {final.returncode})")
    check("resuming tokenizer training" in final.stderr + final.stdout, "the last run resumed")
    check(consistent_step(out) == steps, f"the directory ends at step {steps} ({consistent_step(out)})")
    print(f"  ({kills} kills, {pending} of them left a committed save still to be moved into place)")
    check(kills >= 8, f"the kills landed while the job ran ({kills} of 12)")


def duplicate_manifest_lines():
    print("3. two manifest lines with the same bytes")
    m = write(f"{W}/dup.csv", f"path,caption,split\n{W}/v0.mp4,first caption,train\n{W}/v0.mp4,second caption,train\n")
    r = run(["ingest", "--manifest", m, "--db", f"{W}/dupdb", "--clip-frames", "17", "--no-progress"], timeout=120)
    check(r.returncode == 2, f"ingest reports a skipped line with its documented status 2 (got {r.returncode})")
    check("dup.csv:3" in r.stderr and "the same bytes as line 2" in r.stderr and "second caption" in r.stderr,
          f"the duplicate names its line, the first line and the caption not stored: {r.stderr.strip()[-240:]}")
    check("1 ingested" in r.stdout and "1 skipped" in r.stdout, f"the summary is true: {r.stdout.strip()}")
    i = run(["inspect", "--db", f"{W}/dupdb"])
    check(i.returncode == 0 and " videos        1" in i.stdout.replace("videos        1", " videos        1"),
          "the corpus holds one video")


def mistyped_db():
    print("4. a mistyped --db creates nothing")
    for args in (["text", "train", "--db", f"{W}/corpuz"], ["text", "tokenize", "--db", f"{W}/corpuz"],
                 ["tokenizer", "encode", "--db", f"{W}/corpuz", "--tokenizer", f"{W}/tok", "--id", "x"]):
        r = run(args)
        check(r.returncode == 1 and f"{W}/corpuz" in r.stderr and not os.path.exists(f"{W}/corpuz"),
              f"loong {' '.join(args[:2])}: exit {r.returncode}, names the path, nothing created: {r.stderr.strip()[-160:]}")


def generate_collisions():
    print("5. generate outputs that collide")
    base = ["generate", "--checkpoint", f"{W}/no_checkpoint_needed", "--tokenizer", f"{W}/tok", "--prompt", "a"]
    write(f"{W}/prompts.txt", "a red pattern\n")
    for extra, needle in ((["--out", f"{W}/v.jsonl"], "--stats (derived from --out)"),
                          (["--out", f"{W}/v.mp4", "--stats", f"{W}/v.mp4"], "--stats"),
                          (["--out", f"{W}/v.mp4", "--contact-sheet", f"{W}/v.mp4"], "--contact-sheet"),
                          (["--out", f"{W}/v.mp4", "--manifest", f"{W}/./v.mp4"], "--manifest")):
        r = run(base + extra)
        check(r.returncode == 1 and needle in r.stderr and "same file" in r.stderr,
              f"{' '.join(extra)}: refused naming {needle}: {r.stderr.strip()[-160:]}")
    r = run(["generate", "--checkpoint", f"{W}/x", "--tokenizer", f"{W}/tok", "--prompts", f"{W}/prompts.txt", "--out",
             f"{W}/o.mp4", "--stats", f"{W}/prompts.txt"])
    check(r.returncode == 1 and "an input" in r.stderr and open(f"{W}/prompts.txt").read() == "a red pattern\n",
          f"an output over the prompts file is refused and the file is intact: {r.stderr.strip()[-160:]}")
    r = run(base + ["--out", f"{W}/v.mp4", "--fps", "1e6", "--seconds", "3600"])
    check(r.returncode == 1 and "--fps" in r.stderr, f"--fps 1e6 is refused: {r.stderr.strip()[-160:]}")


def corrupt_tables():
    print("6. inspect on a corpus with a damaged table")
    ssts = sorted(f for f in os.listdir(f"{W}/corpus") if f.endswith(".sst"))
    check(len(ssts) >= 3, f"the corpus has tables to damage ({len(ssts)})")
    for f in ssts:
        shutil.rmtree(f"{W}/corrupt", ignore_errors=True)
        shutil.copytree(f"{W}/corpus", f"{W}/corrupt")
        path = f"{W}/corrupt/{f}"
        data = bytearray(open(path, "rb").read())
        for i in range(20, min(len(data) // 2, 400)):  # the first data block
            data[i] ^= 0x5A
        open(path, "wb").write(data)
        r = run(["inspect", "--db", f"{W}/corrupt"])
        check(r.returncode == 1 and "Corruption" in r.stderr and f in r.stderr,
              f"damaged {f}: exit {r.returncode}, the error names the table file: {r.stderr.strip()[-160:]}")


setup()
corrupt_tables()
two_jobs_one_checkpoint_dir()
kill_during_tokenizer_saves()
duplicate_manifest_lines()
mistyped_db()
generate_collisions()
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
