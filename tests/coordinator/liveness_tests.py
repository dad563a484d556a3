#!/usr/bin/python3
"""A worker that stops answering, and a coordinator killed outright (issue 14, "hangs are ours to name").

usage: liveness_tests.py TRAIN_RUNTIME_CHECK MPIRUN_LOCAL WORKDIR

The tiny job of tests/coordinator/runtime_tests.py (whose helpers this imports: 12 steps, dp=2
under scripts/mpirun-local, checkpoints every 2 steps), with 150 ms per step so that a fault lands
part-way. Checks:
  1. SIGSTOP of worker rank 2 after the step-4 checkpoint: the coordinator ends the job with exit
     status 4 after coordinator.heartbeat_timeout_s (3 s here), its error names rank 2 and its host
     and the ranks still alive; FAILED.json in checkpoint.dir says the same and points at the last
     committed checkpoint; every checkpoint directory left is complete (none half-written); the
     stopped process is ended by the launcher. --resume auto then continues from that checkpoint
     to the uninterrupted run's per-step losses and bit-identical final weights, records the
     failure in its log's resume event and removes FAILED.json.
  2. kill -9 of the coordinator (rank 0) part-way: mpirun ends the workers (bounded wait), no
     checkpoint is half-committed, --resume auto continues from the last complete checkpoint to
     the uninterrupted run's losses and bit-identical final weights.
  3. A work unit past coordinator.work_unit_timeout_s (1 ms) with every rank alive: exit 4, the
     error names the unit and says the ranks are still sending heartbeats; FAILED.json agrees.
  4. Out-of-range liveness keys are config errors naming the key.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_tests as rt  # noqa: E402  (reads TRAIN_RUNTIME_CHECK MPIRUN_LOCAL WORKDIR from argv)

check = rt.check
HEARTBEAT_TIMEOUT_S = 3
DELAY = "[debug]\nstep_delay_ms = 150\n"
EXIT_WORKER_SILENT = 4  # coordinator/worker_liveness.h kExitWorkerSilent, docs/operations.md


def gone(pid):
    """True when `pid` no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next((l.split()[1] for l in f if l.startswith("State:")), "")
        return state == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pids, seconds=20):
    t0 = time.time()
    while time.time() - t0 < seconds and not all(gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not gone(p)]


def kill_leftovers(pids):
    """Our own stopped/leftover processes, by PID: continue them, then kill them."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def finish(p, timeout=60):
    """The job's (exit status, output); a job still running after `timeout` s is killed (status None)."""
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out + f"\n(test: killed after {timeout} s)"


def rank_pids(d):
    return {r: int(open(os.path.join(d, "ckpt", "pids", str(r))).read()) for r in range(3)}


def checkpoint_dirs_complete(d):
    """Every step_XXXXXXXX directory (not the .tmp being filled) has its DONE marker."""
    root = os.path.join(d, "ckpt")
    dirs = [n for n in os.listdir(root) if n.startswith("step_") and len(n) == 13]
    return dirs, [n for n in dirs if not os.path.exists(os.path.join(root, n, "DONE"))]


def main():
    os.makedirs(rt.WORK, exist_ok=True)
    host = socket.gethostname()
    print("reference: uninterrupted run")
    ref_dir, cfg = rt.job("reference")
    rc, out = rt.run(cfg)
    check(rc == 0, f"reference run exits 0 (got {rc})")
    if rc != 0:
        print(out)
        sys.exit(1)

    print(f"1. SIGSTOP of worker rank 2 (heartbeat timeout {HEARTBEAT_TIMEOUT_S} s), then --resume auto")
    d, cfg = rt.job("sigstop", f"[coordinator]\nheartbeat_timeout_s = {HEARTBEAT_TIMEOUT_S}\n" + DELAY)
    p = rt.start(cfg)
    pids = []
    try:
        check(rt.wait_for(os.path.join(d, "ckpt", "step_00000004", "DONE"), p), "the run reached the step-4 checkpoint")
        pids = list(rank_pids(d).values())
        os.kill(pids[2], signal.SIGSTOP)
        t_stop = time.time()
        rc, out = finish(p)
        took = time.time() - t_stop
        check(rc == EXIT_WORKER_SILENT, f"the job exits with status {EXIT_WORKER_SILENT} (got {rc}, {took:.1f} s after the stop)")
        # Not before the timeout (the coordinator waited for it), and not by the launcher's backstop.
        check(HEARTBEAT_TIMEOUT_S <= took < HEARTBEAT_TIMEOUT_S + 30,
              f"it stopped {took:.1f} s after SIGSTOP: after the {HEARTBEAT_TIMEOUT_S} s heartbeat timeout, "
              f"within 30 s more")
        errors = [l for l in out.splitlines() if "loong train: error:" in l]
        print("    " + (errors[0] if errors else "(no error line)"))
        check(len(errors) == 1 and f"worker rank 2 on host {host}" in errors[0] and "stopped answering" in errors[0],
              f"one error line naming the silent worker: rank 2 on host {host}")
        check(bool(errors) and f"alive: rank 0 on host {host} (coordinator) and rank 1 on host {host}" in errors[0],
              "the error lists the ranks still alive (0 and 1)")
        check(bool(errors) and "TRAIN unit of step" in errors[0], "the error names the unit it waited for")
        left = wait_gone(pids)
        check(not left, f"the launcher ended every rank, the stopped one too (still running: {left})")
    finally:
        kill_leftovers(pids)
        if p.poll() is None:
            p.kill()
            p.communicate()
    committed = rt.committed_steps(d)
    dirs, incomplete = checkpoint_dirs_complete(d)
    check(not incomplete, f"no checkpoint directory is half-written ({len(dirs)} directories, incomplete: {incomplete})")
    check(bool(committed) and 4 <= committed[-1] < 12, f"the stop landed part-way (committed: {committed})")
    failed_path = os.path.join(d, "ckpt", "FAILED.json")
    failed = json.load(open(failed_path)) if os.path.exists(failed_path) else {}
    check(failed.get("reason") == "worker_silent" and failed.get("exit_status") == EXIT_WORKER_SILENT,
          f"FAILED.json: reason worker_silent, exit status 4 ({ {k: failed.get(k) for k in ('reason', 'exit_status')} })")
    silent = [(r["rank"], r["host"]) for r in failed.get("silent", [])]
    alive = [(r["rank"], r["host"]) for r in failed.get("alive", [])]
    check(silent == [(2, host)] and alive == [(0, host), (1, host)],
          f"FAILED.json names silent rank 2 and alive ranks 0, 1 with hosts (silent {silent}, alive {alive})")
    check(all(r["silent_s"] >= HEARTBEAT_TIMEOUT_S for r in failed.get("silent", [])),
          "FAILED.json: the silent rank was unheard for at least the timeout")
    last = failed.get("last_checkpoint", "")
    check(bool(committed) and last == os.path.join(d, "ckpt", f"step_{committed[-1]:08d}"),
          f"FAILED.json points at the last committed checkpoint ({last})")
    rc, out2 = rt.run(cfg, "--resume", "auto")
    check(rc == 0, f"resumed run exits 0 (got {rc})")
    if rc != 0:
        print(out2)
    rt.compare_with_reference(ref_dir, d, "SIGSTOP", committed[-1] if committed else -1)
    with open(os.path.join(d, "ckpt", "train_log.jsonl")) as f:
        events = [j for j in map(json.loads, f) if "event" in j]
    previous = events[-1].get("previous_failure", {}) if events else {}
    check(events and events[-1]["event"] == "resume" and previous.get("reason") == "worker_silent",
          "the resumed run's log records the previous run's failure")
    check(not os.path.exists(failed_path), "FAILED.json is gone after the resume")

    print("2. kill -9 of the coordinator (rank 0), then --resume auto")
    d, cfg = rt.job("kill_coordinator", DELAY)
    p = rt.start(cfg)
    pids = []
    try:
        check(rt.wait_for(os.path.join(d, "ckpt", "step_00000004", "DONE"), p), "the run reached the step-4 checkpoint")
        pids = list(rank_pids(d).values())
        os.kill(pids[0], signal.SIGKILL)
        t_kill = time.time()
        rc, out = finish(p)
        check(rc is not None and rc != 0, f"mpirun ends the job with an error (exit {rc}, "
                                          f"{time.time() - t_kill:.1f} s after the kill)")
        left = wait_gone(pids)
        check(not left, f"no worker outlives the coordinator (still running: {left})")
    finally:
        kill_leftovers(pids)
        if p.poll() is None:
            p.kill()
            p.communicate()
    committed = rt.committed_steps(d)
    dirs, incomplete = checkpoint_dirs_complete(d)
    check(not incomplete, f"no checkpoint is half-committed ({len(dirs)} directories, incomplete: {incomplete})")
    check(bool(committed) and 4 <= committed[-1] < 12, f"the kill landed part-way (committed: {committed})")
    rc, out2 = rt.run(cfg, "--resume", "auto")
    check(rc == 0, f"resumed run exits 0 (got {rc})")
    if rc != 0:
        print(out2)
    rt.compare_with_reference(ref_dir, d, "kill -9 coordinator", committed[-1] if committed else -1)

    print("3. a work unit past its deadline, every rank alive")
    d, cfg = rt.job("deadline", "[coordinator]\nwork_unit_timeout_s = 0.001\n")
    rc, out = rt.run(cfg, timeout=60)
    errors = [l for l in out.splitlines() if "loong train: error:" in l]
    check(rc == EXIT_WORKER_SILENT, f"exit status {EXIT_WORKER_SILENT} (got {rc})")
    # Which unit first runs past 1 ms depends on the machine; the error and FAILED.json must agree on it.
    m = re.search(r"the (TRAIN|EVAL|CHECKPOINT|LOAD|STOP) unit of step (\d+) ran past "
                  r"coordinator.work_unit_timeout_s = 0.001 s with every rank still sending heartbeats",
                  errors[0] if errors else "")
    check(len(errors) == 1 and m is not None, "the error names the unit, the deadline, and that the ranks are alive")
    if errors:
        print("    " + errors[0])
    failed_path = os.path.join(d, "ckpt", "FAILED.json")
    failed = json.load(open(failed_path)) if os.path.exists(failed_path) else {}
    unit = {"kind": m.group(1), "step": int(m.group(2))} if m else None
    check(failed.get("reason") == "work_unit_deadline" and failed.get("silent") == [] and failed.get("unit") == unit,
          f"FAILED.json: work_unit_deadline, the same unit, no silent rank ({failed.get('reason')}, {failed.get('unit')})")
    check(len(failed.get("alive", [])) == 3, "FAILED.json lists all three ranks as alive")

    print("4. liveness keys out of range")
    for key, value in (("heartbeat_timeout_s", "0"), ("heartbeat_timeout_s", "inf"), ("work_unit_timeout_s", "-1")):
        d, cfg = rt.job("badkey", f"[coordinator]\n{key} = {value}\n")
        rc, out = rt.run(cfg, np=1, timeout=60)
        check(rc == 1 and f"coordinator.{key}" in out, f"coordinator.{key} = {value}: exit 1 naming the key (got {rc})")

    if rt.failures:
        print("FAILED:\n  " + "\n  ".join(rt.failures))
        sys.exit(1)
    print("liveness: all checks passed")


main()
