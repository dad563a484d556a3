#!/usr/bin/python3
"""A one-machine run opens no listening socket beyond its Prometheus exporter, which binds loopback.

usage: listeners_test.py LOONG_EXE WORKDIR

The listening TCP sockets of a process (and of its children) are read from /proc: the socket
inodes among /proc/PID/fd, matched against the LISTEN (state 0A) rows of /proc/PID/net/tcp and
tcp6. Each command is sampled at a point where it is known to be mid-run:
  loong train (single process, no mpirun): stopped with SIGSTOP once its training log has a step,
    sampled, continued; with --no-metrics no listener at all (in particular none of Open MPI's
    singleton runtime, which MPI_Init outside a launcher starts); with the default [metrics] exactly
    the exporter's port (from its file-SD target file) on 127.0.0.1.
  loong ingest: its manifest is a named pipe, so the command is blocked reading it (after its
    exporter has started) until the test writes the manifest; with --metrics-address "" no
    listener; with the default exactly the printed exporter port on 127.0.0.1.
Every run must also succeed (exit 0).
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from mnist_job import Checks, build_corpus, write_job

LOONG, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
check = Checks()


def process_tree(pid):
    """pid and all its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        for children in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                with open(children) as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                pass  # the task ended meanwhile
    return out


def socket_inodes(pid):
    inodes = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def hex_address(text, v6):
    """/proc/net/tcp{,6} local address -> printable (the kernel writes 32-bit words in host order)."""
    addr, port = text.split(":")
    words = [bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, len(addr), 8)]
    raw = b"".join(words)
    if v6:
        import ipaddress
        return str(ipaddress.IPv6Address(raw)), int(port, 16)
    return ".".join(str(b) for b in raw), int(port, 16)


def listeners(pid):
    """{(address, port, 'tcp'|'tcp6')} of the LISTEN sockets owned by pid or its descendants."""
    tree = process_tree(pid)
    owned = set()
    for p in tree:
        owned |= socket_inodes(p)
    found = set()
    for p in tree:
        for table, v6 in (("tcp", False), ("tcp6", True)):
            try:
                with open(f"/proc/{p}/net/{table}") as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[9]) in owned:
                    a, port = hex_address(cols[1], v6)
                    found.add((a, port, table))
    return found, len(tree)


def wait_until(cond, timeout_s, proc):
    """Polls cond() every 50 ms while proc runs; True once it holds, False on timeout or exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(0.05)
    return False


def stop(proc):
    if proc.poll() is None:
        proc.kill()  # this test's own child, by PID
        proc.wait()


def train_listeners(name, cfg, extra_args):
    """Runs `loong train` (one process), samples its listeners while stopped mid-run."""
    ckpt = os.path.join(WORK, name, "ckpt")
    log = os.path.join(ckpt, "train_log.jsonl")

    def has_step():
        try:
            with open(log) as f:
                return any('"step"' in line and '"event"' not in line for line in f)
        except OSError:
            return False

    env = {k: v for k, v in os.environ.items()
           if k not in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE")}
    with open(os.path.join(WORK, name + ".err"), "w") as err:
        proc = subprocess.Popen([LOONG, "train", "--config", cfg, *extra_args], stdout=err, stderr=err, env=env)
    try:
        if not check(wait_until(has_step, 300, proc), f"{name}: the run logged a step while running"):
            return None, proc.wait()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            found, procs = listeners(proc.pid)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        print(f"  {name}: {procs} process(es), listening: {sorted(found)}", flush=True)
        return found, proc.wait(timeout=300)
    finally:
        stop(proc)


def ingest_listeners(name, mm, manifest_text, extra_args):
    """Runs `loong ingest` on a named-pipe manifest; samples while it waits for the manifest."""
    fifo = os.path.join(mm, name + ".csv")  # in the videos' folder: relative paths resolve there
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    db = os.path.join(WORK, name + "_db")
    shutil.rmtree(db, ignore_errors=True)
    err_path = os.path.join(WORK, name + ".err")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([LOONG, "ingest", "--manifest", fifo, "--db", db, "--clip-frames", "17",
                                 "--no-progress", *extra_args], stdout=err, stderr=err)
    writer = None
    try:
        def reader_open():
            nonlocal writer
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until the reader has it open
                return True
            except OSError:
                return False

        if not check(wait_until(reader_open, 120, proc), f"{name}: ingest opened its manifest"):
            return None, None, proc.wait()
        found, procs = listeners(proc.pid)
        print(f"  {name}: {procs} process(es), listening: {sorted(found)}", flush=True)
        os.set_blocking(writer, True)
        os.write(writer, manifest_text.encode())
        os.close(writer)
        writer = None
        rc = proc.wait(timeout=300)
        with open(err_path) as f:
            m = re.search(r"metrics: http://([^/]+):(\d+)/metrics", f.read())
        return found, (m.group(1), int(m.group(2))) if m else None, rc
    finally:
        if writer is not None:
            os.close(writer)
        stop(proc)
        os.unlink(fifo)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    db = build_corpus(LOONG, WORK, train_clips=8, test_clips=4, tokenizer_steps=2)

    # Training: one process, as `loong train` is run on one machine.
    for name, extra_args, metrics in (("train_no_metrics", ["--no-metrics"], False),
                                      ("train_default_exporter", [], True)):
        targets = os.path.join(WORK, name, "targets")
        os.makedirs(os.path.join(WORK, name), exist_ok=True)
        cfg = write_job(os.path.join(WORK, name, "job.toml"), db, os.path.join(WORK, name, "ckpt"), steps=8,
                        checkpoint_every=0,
                        extra=f'[metrics]\njob_name = "{name}"\ntargets_dir = "{targets}"\n'
                              '[debug]\nstep_delay_ms = 300\n')
        target_file = os.path.join(targets, name + ".json")
        port = None

        found, rc = train_listeners(name, cfg, extra_args)
        check(rc == 0, f"{name}: exit status 0 (got {rc})")
        if found is None:
            continue
        if not metrics:
            check(found == set(), f"{name}: no listening socket (got {sorted(found)})")
            continue
        # The target file is removed at exit; the log line names the port too.
        with open(os.path.join(WORK, name + ".err")) as f:
            m = re.search(r"metrics: http://127\.0\.0\.1:(\d+)/metrics", f.read())
        if check(m is not None, f"{name}: the exporter's URL is logged on loopback"):
            port = int(m.group(1))
        check(not os.path.exists(target_file), f"{name}: the target file is gone after the run")
        check(found == {("127.0.0.1", port, "tcp")},
              f"{name}: exactly the exporter 127.0.0.1:{port} listens (got {sorted(found)})")

    # Ingest: "" means no exporter, as in train's [metrics] address = "".
    mm = os.path.join(WORK, "mm")
    with open(os.path.join(mm, "train.csv")) as f:
        manifest = f.read()
    found, url, rc = ingest_listeners("ingest_no_exporter", mm, manifest, ["--metrics-address", ""])
    check(rc == 0, f"ingest --metrics-address '': exit status 0 (got {rc})")
    if found is not None:
        check(found == set(), f"ingest --metrics-address '': no listening socket (got {sorted(found)})")
        check(url is None, "ingest --metrics-address '': no exporter URL printed")
    found, url, rc = ingest_listeners("ingest_default_exporter", mm, manifest, [])
    check(rc == 0, f"ingest (default exporter): exit status 0 (got {rc})")
    if found is not None and check(url is not None and url[0] == "127.0.0.1",
                                   f"ingest: the exporter URL is printed on loopback (got {url})"):
        check(found == {("127.0.0.1", url[1], "tcp")},
              f"ingest: exactly the exporter 127.0.0.1:{url[1]} listens (got {sorted(found)})")
    check.finish("listeners")


if __name__ == "__main__":
    main()
