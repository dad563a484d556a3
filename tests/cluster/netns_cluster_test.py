#!/usr/bin/python3
"""Three hosts as network namespaces: the training job across them, a cut link, a resume.

usage: netns_cluster_test.py LOONG_EXE REPO_DIR WORKDIR

Builds a small tokenised Moving-MNIST corpus (tests/cluster/mnist_job.py), runs the job once on
one host (scripts/mpirun-local: coordinator + 2 data-parallel workers over loopback) as the
reference, then makes hosts h1, h2, h3 with cluster/netns/hosts (veth pairs into a bridge, a /24
that exists only inside the namespaces) and, with cluster/netns/mpirun started on h1 (coordinator,
rank 0, on h1; workers, ranks 1 and 2, on h2 and h3; TCP only):
  1. the same job: per-step losses bit-identical to the one-host run (same ranks, same reduction
     order), and each worker host's veth received at least one full gradient per step (a sum
     all-reduce between two ranks cannot do with less), so the collectives crossed real links;
  2. the same job again, with the worker process on h2 (rank 1) stopped with SIGSTOP after the
     step-10 checkpoint: the coordinator, which hears no more heartbeats from it, ends the job
     with exit status 4 within [coordinator] heartbeat_timeout_s (3 s here) plus a margin, naming
     rank 1 on host h2 and the ranks still alive, and writes FAILED.json; the launcher ends the
     stopped process (else the test does, by PID);
  3. the same job again, with h3's link cut after the step-10 checkpoint: the coordinator names
     rank 2 on host h3 itself (exit status 4; mpirun's keepalive is set longer than the heartbeat
     timeout for this, LOONG_NETNS_KEEPALIVE_S), and the host matches mpirun's job map; then,
     with the link back, `--resume auto` continues from the last checkpoint and ends with the
     uninterrupted run's final loss and bit-identical final weights.
Everything made (namespaces, processes inside them) is removed at the end, also on failure, on
SIGTERM/SIGINT, and at the start if an earlier run of this WORKDIR was killed. Exit 77 (skipped,
reason printed) when network namespaces cannot be made here (not root, no `ip netns`).
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

from mnist_job import Checks, build_corpus, checkpoint_file, final_loss, read_bytes, train_log, write_job

LOONG, REPO, WORK = sys.argv[1:4]
WORK = os.path.abspath(WORK)
HOSTS = ["h1", "h2", "h3"]
STEPS, EVERY = 40, 10
HEARTBEAT_TIMEOUT_S = 3  # [coordinator] heartbeat_timeout_s of the jobs across the hosts
EXIT_WORKER_SILENT = 4   # coordinator/worker_liveness.h, docs/operations.md
check = Checks()
# Namespace names: a prefix per work directory, so that runs from different build directories do
# not meet, and a run killed before its cleanup is cleaned up by the next run of the same one.
PREFIX = f"lc{zlib.crc32(WORK.encode()) % 100000:05d}-"
# Keepalive probes start after 10 s idle: a cut link is then ours to name (after the 3 s heartbeat
# timeout) before mpirun notices its lost daemon (~13 s).
ENV = dict(os.environ, LOONG_NETNS_PREFIX=PREFIX, LOONG_NETNS_SUBNET="10.213.7", LOONG_NETNS_TIMEOUT="240",
           LOONG_NETNS_KEEPALIVE_S="10", OMP_NUM_THREADS="1")
HOSTS_SCRIPT = os.path.join(REPO, "cluster", "netns", "hosts")
NETNS_MPIRUN = os.path.join(REPO, "cluster", "netns", "mpirun")


def hosts(*args, timeout=60):
    return subprocess.run([HOSTS_SCRIPT, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def eth0_bytes(host):
    """(rx, tx) byte counters of the host's veth."""
    out = subprocess.run(["ip", "-n", PREFIX + host, "-s", "-j", "link", "show", "dev", "eth0"], check=True,
                         capture_output=True, text=True).stdout
    s = json.loads(out)[0]["stats64"]
    return s["rx"]["bytes"], s["tx"]["bytes"]


def parameter_count(safetensors):
    """Elements of all tensors in a safetensors file (from its header)."""
    with open(safetensors, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name != "__metadata__":
            count = 1
            for d in t["shape"]:
                count *= d
            total += count
    return total


def start_netns(config, *extra):
    cmd = [NETNS_MPIRUN, "h1", "--host", ",".join(HOSTS), "-np", "3", LOONG, "train", "--config", config, "--dp", "2",
           "--no-metrics", *extra]
    return subprocess.Popen(cmd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(proc, timeout):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out += f"\n(test: killed after {timeout} s)"
    return proc.returncode, out


def show_tail(out, lines=40):
    print("    | " + "\n    | ".join(out.strip().splitlines()[-lines:]), flush=True)


def job_map(mpirun_output):
    """{host: sorted world ranks} from mpirun's --display-map (printed once per daemon: merged)."""
    ranks, node = {}, None
    for line in mpirun_output.splitlines():
        m = re.search(r"Data for node: (\S+)", line)
        if m:
            node = m.group(1)
        m = re.search(r"Process rank: (\d+)", line)
        if m and node:
            ranks.setdefault(node, set()).add(int(m.group(1)))
    return {h: sorted(r) for h, r in ranks.items()}


def losses(checkpoint_dir):
    return {s["step"]: s["loss"] for run in train_log(checkpoint_dir) for s in run["steps"]}


def our_error(out):
    """The coordinator's error lines (`loong train: error: ...`)."""
    return [l for l in out.splitlines() if "loong train: error:" in l]


def failure_record(checkpoint_dir):
    path = os.path.join(checkpoint_dir, "FAILED.json")
    return json.load(open(path)) if os.path.exists(path) else {}


def train_pids(host):
    """PIDs of `loong train` processes inside the host's namespace."""
    pids = []
    for pid in subprocess.run(["ip", "netns", "pids", PREFIX + host], capture_output=True, text=True).stdout.split():
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except FileNotFoundError:
            continue
        if argv and argv[0] == LOONG.encode() and b"train" in argv:
            pids.append(int(pid))
    return pids


def running(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((l.split()[1] for l in f if l.startswith("State:")), "") != "Z"
    except FileNotFoundError:
        return False


def wait_for_checkpoint(proc, checkpoint_dir, step, seconds=240):
    path = checkpoint_file(checkpoint_dir, step, "DONE")
    t = time.time()
    while not os.path.exists(path) and proc.poll() is None and time.time() - t < seconds:
        time.sleep(0.05)
    return os.path.exists(path)


def namespaces_usable():
    probe = f"{PREFIX}probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip() or "ip netns add failed"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def on_signal(sig, _frame):
    raise SystemExit(f"interrupted by signal {sig}")


def main():
    why = "needs root" if os.geteuid() != 0 else (namespaces_usable() if shutil.which("ip") else "no `ip` command")
    if why:
        print(f"SKIPPED: network namespaces cannot be made here: {why}")
        sys.exit(77)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    hosts("down")  # leftovers of a killed earlier run of this work directory
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    t0 = time.time()
    db = build_corpus(LOONG, WORK)
    print(f"corpus built in {time.time() - t0:.1f} s", flush=True)

    def job(name):
        return write_job(os.path.join(WORK, name + ".toml"), db, os.path.join(WORK, name), STEPS, EVERY,
                         f"[coordinator]\nheartbeat_timeout_s = {HEARTBEAT_TIMEOUT_S}\n")

    print("0. reference: the job on one host (loopback)")
    ref = os.path.join(WORK, "reference")
    t = time.time()
    p = subprocess.run([os.path.join(REPO, "scripts", "mpirun-local"), "-np", "3", LOONG, "train", "--config",
                        job("reference"), "--dp", "2", "--no-metrics"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=240)
    if not check(p.returncode == 0, f"one-host run exits 0 (got {p.returncode}, {time.time() - t:.1f} s)"):
        show_tail(p.stdout + p.stderr)
        check.finish("netns cluster")
    ref_losses = losses(ref)

    try:
        r = hosts("up", *HOSTS)
        if not check(r.returncode == 0, "hosts h1, h2, h3 made (namespaces, veth pairs, bridge)"):
            show_tail(r.stdout + r.stderr)
            check.finish("netns cluster")
        print("    " + r.stdout.strip().replace("\n", "\n    "))

        print("1. the job across h1 (coordinator), h2 and h3 (workers)")
        before = {h: eth0_bytes(h) for h in HOSTS}
        t = time.time()
        rc, out = finish(start_netns(job("netns")), 240)
        if not check(rc == 0, f"the job across three hosts exits 0 (got {rc}, {time.time() - t:.1f} s)"):
            show_tail(out)
        after = {h: eth0_bytes(h) for h in HOSTS}
        placement = job_map(out)
        check(placement == {"h1": [0], "h2": [1], "h3": [2]},
              f"rank 0 ran on h1, rank 1 on h2, rank 2 on h3 (mpirun's map: {placement})")
        got = losses(os.path.join(WORK, "netns"))
        check(len(got) == STEPS and got == ref_losses,
              f"all {STEPS} per-step losses are bit-identical to the one-host run's")
        grad_bytes = 4 * parameter_count(checkpoint_file(ref, STEPS))
        for h in HOSTS:
            rx, tx = after[h][0] - before[h][0], after[h][1] - before[h][1]
            print(f"    {h} eth0: received {rx / 1e6:.2f} MB, sent {tx / 1e6:.2f} MB "
                  f"({grad_bytes / 1e6:.3f} MB of gradients per step)")
        for h in ("h2", "h3"):
            rx = after[h][0] - before[h][0]
            check(rx >= STEPS * grad_bytes, f"{h} received at least {STEPS} gradients' worth over its link "
                                            f"({rx} >= {STEPS} x {grad_bytes} bytes)")
        check(after["h1"][1] > before["h1"][1], "h1 (the coordinator) sent work units over its link")

        print(f"2. the worker on h2 stopped (SIGSTOP) mid-run (heartbeat timeout {HEARTBEAT_TIMEOUT_S} s)")
        stopped = os.path.join(WORK, "stopped")
        proc = start_netns(job("stopped"))
        stopped_pids = []
        try:
            check(wait_for_checkpoint(proc, stopped, EVERY), f"the job reached its step-{EVERY} checkpoint")
            stopped_pids = train_pids("h2")
            check(len(stopped_pids) == 1, f"one loong process runs on h2 (rank 1): {stopped_pids}")
            for pid in stopped_pids:
                os.kill(pid, signal.SIGSTOP)
            t_stop = time.time()
            rc, out = finish(proc, 120)
            took = time.time() - t_stop
            check(rc == EXIT_WORKER_SILENT and HEARTBEAT_TIMEOUT_S <= took < HEARTBEAT_TIMEOUT_S + 30,
                  f"the job exits with status {EXIT_WORKER_SILENT} {took:.1f} s after the stop (got {rc}; "
                  f"timeout {HEARTBEAT_TIMEOUT_S} s, margin 30 s)")
            errors = our_error(out)
            print("    " + (errors[0] if errors else "(no error line from the coordinator)"))
            check(len(errors) == 1 and "worker rank 1 on host h2" in errors[0] and "stopped answering" in errors[0]
                  and "alive: rank 0 on host h1 (coordinator) and rank 2 on host h3" in errors[0],
                  "the coordinator's error names rank 1 on host h2, and ranks 0 (h1) and 2 (h3) as alive")
            if not errors:
                show_tail(out)
            failed = failure_record(stopped)
            last = failed.get("last_checkpoint", "")
            check([(r["rank"], r["host"]) for r in failed.get("silent", [])] == [(1, "h2")] and
                  os.path.dirname(last) == stopped and os.path.exists(os.path.join(last, "DONE")) and
                  last >= os.path.join(stopped, f"step_{EVERY:08d}"),
                  f"FAILED.json names rank 1 on h2 and a complete checkpoint at or after step {EVERY} "
                  f"({failed.get('silent')}, {last})")
            t = time.time()
            while any(running(p) for p in stopped_pids) and time.time() - t < 20:
                time.sleep(0.1)
            left = [p for p in stopped_pids if running(p)]
            check(not left, f"the launcher ended the stopped process (still there: {left})")
        finally:
            for pid in stopped_pids:  # ours to clean up, by PID, whatever happened above
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

        print("3. h3's link cut mid-run, then resumed")
        # After the coordinator's MPI_Abort, mpirun waits for h3's daemon to confirm the kill; with
        # that message unacknowledged, TCP keepalive no longer applies and Linux retransmits for
        # ~15 min (tcp_retries2 = 15). The launch host gives up after ~6 s instead (4 retries), as a
        # cluster tuned for fast failure would (docs/operations.md).
        subprocess.run(["ip", "netns", "exec", PREFIX + "h1", "sysctl", "-qw", "net.ipv4.tcp_retries2=4"], check=True)
        cut = os.path.join(WORK, "cut")
        t = time.time()
        proc = start_netns(job("cut"))
        check(wait_for_checkpoint(proc, cut, EVERY), f"the job reached its step-{EVERY} checkpoint")
        subprocess.run(["ip", "-n", PREFIX + "h3", "link", "set", "eth0", "down"], check=True)
        t_cut = time.time()
        rc, out = finish(proc, 120)
        stopped_s = time.time() - t_cut
        done_steps = sorted(int(n[5:]) for n in os.listdir(cut) if n.startswith("step_") and len(n) == 13)
        check(rc == EXIT_WORKER_SILENT and STEPS not in done_steps,
              f"the job stopped {stopped_s:.1f} s after the cut with status {EXIT_WORKER_SILENT}, before its end "
              f"(exit {rc}, last checkpoint step {done_steps[-1] if done_steps else None})")
        errors = our_error(out)
        print("    " + (errors[0] if errors else "(no error line from the coordinator)"))
        named = re.search(r"worker rank (\d+) on host (\w+) \(silent [0-9.]+ s\) stopped answering",
                          errors[0] if errors else "")
        check(len(errors) == 1 and named is not None and named.groups() == ("2", "h3"),
              "the coordinator's error names the lost rank and host: rank 2 on h3")
        check(named is not None and int(named.group(1)) in placement.get(named.group(2), []),
              f"mpirun's job map agrees (rank 2 ran on h3: {placement})")
        if not named:
            show_tail(out)
        # Whatever the lost host still runs (nothing, normally: its daemon gives up too) is stopped
        # before the link comes back, as a restarted node would be.
        pids = subprocess.run(["ip", "netns", "pids", PREFIX + "h3"], capture_output=True, text=True).stdout.split()
        print(f"    processes left on h3 after the job stopped: {len(pids)}")
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "-n", PREFIX + "h3", "link", "set", "eth0", "up"], check=True)
        t = time.time()
        rc, out = finish(start_netns(os.path.join(WORK, "cut.toml"), "--resume", "auto"), 240)
        if not check(rc == 0, f"--resume auto across the three hosts exits 0 (got {rc}, {time.time() - t:.1f} s)"):
            show_tail(out)
        runs = train_log(cut)
        resumed_at = runs[-1]["start"] if runs and runs[-1]["event"] == "resume" else None
        check(resumed_at is not None and resumed_at in done_steps,
              f"it resumed from the last checkpoint written before the cut (step {resumed_at})")
        resumed = {s["step"]: s["loss"] for s in runs[-1]["steps"]} if runs else {}
        check(bool(resumed) and all(resumed[k] == ref_losses[k] for k in resumed),
              f"the resumed steps' losses equal the uninterrupted run's ({len(resumed)} steps)")
        check(final_loss(cut, STEPS) is not None and final_loss(cut, STEPS) == final_loss(ref, STEPS),
              f"final loss equals the uninterrupted run's ({final_loss(cut, STEPS)})")
        check(os.path.exists(checkpoint_file(cut, STEPS)) and
              read_bytes(checkpoint_file(cut, STEPS)) == read_bytes(checkpoint_file(ref, STEPS)),
              "final weights are bit-identical to the uninterrupted run's")
    finally:
        r = hosts("down")
        left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith(PREFIX)]
        check(r.returncode == 0 and not left, f"namespaces and their processes removed ({left or 'none left'})")
    print(f"total {time.time() - t0:.1f} s")
    check.finish("netns cluster")


main()
