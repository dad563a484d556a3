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
import os
import shutil
import subprocess
import sys
import time

from mnist_job import Checks, build_corpus, checkpoint_file, final_loss, read_bytes, sh, train_log, write_job

LOONG, REPO, WORK = sys.argv[1:4]
check = Checks()


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chdir(WORK)
    db = build_corpus(LOONG, WORK)
    steps = 120

    def job(name):
        return write_job(os.path.join(WORK, name + ".toml"), db, os.path.join(WORK, name), steps, 20)

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
        check(os.path.exists(checkpoint_file(os.path.join(WORK, "reference"), steps, "DONE")),
              "it wrote its final checkpoint")
        logged = sum(len(run["steps"]) for run in train_log(os.path.join(WORK, "reference")))
        check(logged == steps, f"every one of the {steps} steps was logged")

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
        check(read_bytes(checkpoint_file(os.path.join(WORK, "reference"), steps)) ==
              read_bytes(checkpoint_file(os.path.join(WORK, "interrupted"), steps)), "final weights are bit-identical")
    finally:
        subprocess.run([f"{REPO}/cluster/slurm/local-cluster", "stop", cluster])
    check.finish("slurm")


main()
