#!/usr/bin/python3
"""The CPU batch script on a real (single-node) Slurm cluster.

usage: slurm_test.py LOONG_EXE REPO_DIR WORKDIR

Builds a small Moving-MNIST corpus (real MNIST digits, mp4, ingest, SentencePiece text tokens, a
briefly trained video tokenizer, encoded), starts cluster/slurm/local-cluster, then:
  1. sbatch cluster/slurm/train_cpu.sbatch (coordinator + 2 workers): the job completes, trained
     (loss logged for every step) and checkpointed (final step_XXXXXXXX with DONE);
  2. a second submission is signalled mid-run (scancel --signal=USR1, as Slurm does before a
     time limit): the coordinator checkpoints, the script requeues the job, the restarted job
     resumes from the checkpoint and finishes with the same final loss and bit-identical weights
     as the uninterrupted run.
The cluster is stopped by its PIDs at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import time

LOONG, REPO, WORK = sys.argv[1:4]
failures = []


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def final_loss(ckpt, step):
    last = None
    for line in open(os.path.join(ckpt, "train_log.jsonl")):
        j = json.loads(line)
        if j.get("step") == step and "loss" in j and not j.get("eval"):
            last = j["loss"]
    return last


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chdir(WORK)
    L = LOONG
    sh(L, "dataset", "moving-mnist", "--out", "mm", "--count", "24", "--frames", "17", "--split", "train")
    sh(L, "dataset", "moving-mnist", "--out", "mm", "--count", "8", "--frames", "17", "--split", "test", "--seed", "2")
    sh(L, "ingest", "--manifest", "mm/train.csv", "--db", "corpus", "--clip-frames", "17", "--no-progress")
    sh(L, "ingest", "--manifest", "mm/test.csv", "--db", "corpus", "--clip-frames", "17", "--no-progress")
    sh(L, "text", "train", "--db", "corpus", "--vocab-size", "64")
    sh(L, "tokenizer", "train", "--db", "corpus", "--config", f"{REPO}/configs/tokenizer_mnist.toml", "--out", "tok",
       "--steps", "4")
    sh(L, "tokenizer", "encode", "--db", "corpus", "--tokenizer", "tok", "--id", "default")
    steps = 120

    def job(name):
        path = os.path.join(WORK, name + ".toml")
        with open(path, "w") as f:
            f.write(f"""
[model]
hidden_size = 64
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
intermediate_size = 176
[data]
db = "{WORK}/corpus"
text_budget = 16
[train]
micro_batch_size = 2
eval_every = 0
[[curriculum.stage]]
latent_frames = 1
batch_tokens = 1024
steps = {steps // 2}
[[curriculum.stage]]
latent_frames = 5
batch_tokens = 2048
steps = {steps // 2}
[checkpoint]
dir = "{WORK}/{name}"
every = 20
""")
        return path

    cluster = os.path.join(WORK, "slurm")
    env = dict(os.environ)
    out = sh(f"{REPO}/cluster/slurm/local-cluster", "start", cluster)
    env["SLURM_CONF"] = out.strip().split("=", 1)[1]
    env["LOONG"] = LOONG
    try:
        def submit(cfg):
            return sh("sbatch", "--parsable", "-O", f"--chdir={WORK}", f"{REPO}/cluster/slurm/train_cpu.sbatch", cfg,
                      "--no-metrics", env=env).strip()

        def state(jid):
            o = subprocess.run(["scontrol", "show", "job", jid], capture_output=True, text=True, env=env).stdout
            st = [w.split("=")[1] for w in o.split() if w.startswith("JobState=")]
            rs = [w.split("=")[1] for w in o.split() if w.startswith("Restarts=")]
            return (st[0] if st else "GONE"), int(rs[0]) if rs else 0

        def wait_done(jid, seconds):
            t0 = time.time()
            pending_since = None
            while time.time() - t0 < seconds:
                st, _ = state(jid)
                if st in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "GONE"):
                    return st
                # A requeued job waits about two minutes for its begin time. Once the old step has
                # been cleaned up (10 s), let it start now to keep the test short.
                if st == "PENDING":
                    pending_since = pending_since or time.time()
                    if time.time() - pending_since > 10:
                        subprocess.run(["scontrol", "update", f"JobId={jid}", "StartTime=now"], env=env,
                                       capture_output=True)
                else:
                    pending_since = None
                time.sleep(0.5)
            return "STUCK"

        print("1. uninterrupted run")
        ref = job("reference")
        jid = submit(ref)
        check(wait_done(jid, 300) == "COMPLETED", "the batch job completed")
        final = os.path.join(WORK, "reference", f"step_{steps:08d}")
        check(os.path.exists(os.path.join(final, "DONE")), "it wrote its final checkpoint")
        losses = [json.loads(l) for l in open(os.path.join(WORK, "reference", "train_log.jsonl"))]
        check(len([l for l in losses if "loss" in l]) == steps, f"every one of the {steps} steps was logged")

        print("2. signalled mid-run, requeued, resumed")
        cfg = job("interrupted")
        jid = submit(cfg)
        first = os.path.join(WORK, "interrupted", "step_00000020", "DONE")
        t0 = time.time()
        while not os.path.exists(first) and time.time() - t0 < 300:
            time.sleep(0.1)
        check(os.path.exists(first), "the job reached its first checkpoint")
        sh("scancel", "--signal=USR1", jid, env=env)
        check(wait_done(jid, 400) == "COMPLETED", "the requeued job completed")
        _, restarts = state(jid)
        check(restarts >= 1, f"Slurm restarted the job ({restarts} restart)")
        log = open(os.path.join(WORK, f"loong-loong-train-cpu-{jid}.out")).read()
        check("checkpointed on signal; requeueing" in log and "resumed from" in log,
              "the log shows the signal checkpoint, the requeue and the resume")
        check(final_loss(os.path.join(WORK, "interrupted"), steps) == final_loss(os.path.join(WORK, "reference"), steps),
              "final loss equals the uninterrupted run's")
        a = open(os.path.join(final, "model.safetensors"), "rb").read()
        b = open(os.path.join(WORK, "interrupted", f"step_{steps:08d}", "model.safetensors"), "rb").read()
        check(a == b, "final weights are bit-identical")
    finally:
        subprocess.run([f"{REPO}/cluster/slurm/local-cluster", "stop", cluster])
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("slurm: all checks passed")


main()
