#!/usr/bin/python3
"""Every PromQL expression of the Grafana dashboard returns data from a real Prometheus scraping a
real training job.

usage: prometheus_dashboard_test.py TRAIN_RUNTIME_CHECK DASHBOARD_JSON PROMETHEUS_YML WORKDIR

Starts Debian's `prometheus` on 127.0.0.1 (free port, temporary storage) with the repository's
scrape config (file-based service discovery), runs a short training job whose coordinator serves
metrics on loopback and writes its target file, then asks Prometheus's HTTP API for each
expression of cluster/grafana/loong-training.json over the job's time range, with the dashboard's
$job_name variable set to the job's own name (every series returned must carry it). Then, from
the raw samples Prometheus stored (a range selector, not the interpolated query_range points):
the step gauge comes from at least two distinct scrapes (distinct timestamps) with different
step values, and the weighted loss gauge at each scrape equals the loss the job's own train log
records for the step scraped with it. Prometheus is stopped by its PID.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

EXE, DASHBOARD, PROM_YML, WORK = sys.argv[1:5]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def train_log(path):
    """Step -> (stage, loss) from the coordinator's train_log.jsonl (training steps only)."""
    steps = {}
    with open(path) as f:
        for line in f:
            j = json.loads(line)
            if "event" in j or j.get("eval"):
                continue
            steps[j["step"]] = (j["stage"], j["loss"])
    return steps


def raw_samples(base, selector, at):
    """The samples Prometheus stored for `selector` (a range vector at time `at`): one list of
    (timestamp, value) per series, keyed by the series' labels."""
    params = urllib.parse.urlencode({"query": selector, "time": f"{at:.3f}"})
    r = get(f"{base}/api/v1/query?{params}")
    out = {}
    for s in r.get("data", {}).get("result", []):
        key = tuple(sorted(s["metric"].items()))
        out[key] = [(float(t), float(v)) for t, v in s.get("values", [])]
    return out


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    targets = os.path.join(WORK, "targets")
    os.makedirs(targets)
    # The repository's scrape config, with its targets directory pointed at ours.
    # (scraped every second here so that a short job yields several samples per series)
    cfg = open(PROM_YML).read().replace("targets/*.json", os.path.join(targets, "*.json"))
    cfg = cfg.replace("scrape_interval: 5s", "scrape_interval: 1s")
    with open(os.path.join(WORK, "prometheus.yml"), "w") as f:
        f.write(cfg)
    port = free_port()
    prom = subprocess.Popen(["prometheus", f"--config.file={WORK}/prometheus.yml",
                             f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={WORK}/tsdb"],
                            stdout=open(os.path.join(WORK, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    failures = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        else:
            print("Prometheus did not become ready")
            sys.exit(1)
        with open(os.path.join(WORK, "job.toml"), "w") as f:
            f.write(f"""
[model]
hidden_size = 128
num_hidden_layers = 4
num_attention_heads = 4
intermediate_size = 384
[parallel]
dp = 2
[data]
text_budget = 4
[train]
micro_batch_size = 1
eval_every = 20
loss_weighting = "segment_balanced"
[[curriculum.stage]]
latent_frames = 1
batch_tokens = 64
steps = 200
[[curriculum.stage]]
latent_frames = 5
batch_tokens = 320
steps = 350
[checkpoint]
dir = "{WORK}/ckpt"
every = 40
[metrics]
job_name = "promtest"
peak_flops = 1e11
""")
        t0 = time.time()
        mpirun = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "mpirun-local")
        job = subprocess.run([mpirun, "-np", "3", EXE, "--config", os.path.join(WORK, "job.toml"),
                              "--metrics-targets", targets], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=600)
        t1 = time.time()
        if job.returncode != 0:
            print(job.stdout[-3000:], job.stderr[-3000:])
            sys.exit(1)
        print(f"training job ran {t1 - t0:.1f} s")
        dash = json.load(open(DASHBOARD))
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        job_name = "promtest"  # [metrics] job_name of the job above: what Grafana's variable selects
        end = time.time()
        for e in exprs:
            q = e.replace("$job_name", job_name)
            params = urllib.parse.urlencode({"query": q, "start": f"{t0:.3f}", "end": f"{end:.3f}", "step": "1"})
            r = get(f"{base}/api/v1/query_range?{params}")
            series = r.get("data", {}).get("result", [])
            points = sum(len(s.get("values", [])) for s in series)
            named = all(s["metric"].get("job_name") == job_name for s in series)
            ok = r.get("status") == "success" and len(series) > 0 and points > 0 and named
            print(f"  {'ok  ' if ok else 'FAIL'} {len(series):3d} series {points:5d} points  {q}")
            if not ok:
                failures.append(q)
        # The raw samples: distinct scrapes, and values that agree with the job's own log.
        window = f"[{int(end - t0) + 10}s]"
        log = train_log(os.path.join(WORK, "ckpt", "train_log.jsonl"))
        step_series = raw_samples(base, f'loong_train_step{{job="loong",job_name="{job_name}"}}' + window, end)
        scrapes = [pt for pts in step_series.values() for pt in pts]
        stamps = {t for t, _ in scrapes}
        step_values = {v for _, v in scrapes}
        print(f"  step gauge: {len(scrapes)} samples, {len(stamps)} scrape times, {len(step_values)} step values")
        if len(step_series) != 1 or len(stamps) < 2 or len(step_values) < 2:
            failures.append(f"loong_train_step: want one series from >= 2 scrapes with different steps "
                            f"({len(step_series)} series, {len(stamps)} times, {len(step_values)} values)")
        loss_series = raw_samples(base, f'loong_train_loss{{job="loong",job_name="{job_name}",kind="weighted"}}' + window,
                                  end)
        loss_at = {}  # (timestamp, stage) -> value
        for key, pts in loss_series.items():
            stage = int(dict(key)["stage"])
            for t, v in pts:
                loss_at[(t, stage)] = v
        matched, bad = set(), []
        for t, v in scrapes:
            step = int(v)
            if step not in log:
                continue  # step 0 (before the first step) or not in the log: nothing to compare
            stage, want = log[step]
            got = loss_at.get((t, stage))
            if got is not None and abs(got - want) <= 1e-12 * abs(want):
                matched.add(step)
            elif got is not None and step + 1 in log and abs(got - log[step + 1][1]) <= 1e-12 * abs(log[step + 1][1]):
                pass  # scraped between the loss and the step gauge updates of the next step
            else:
                bad.append((step, got, want))
        print(f"  loss gauge equals the train log's loss at {len(matched)} scraped steps; mismatches {bad[:5]}")
        if len(matched) < 2 or bad:
            failures.append(f"loong_train_loss: want the train log's loss at >= 2 scraped steps, no mismatch "
                            f"(matched {sorted(matched)[:10]}, mismatches {bad[:5]})")
        if not os.listdir(targets) == []:
            failures.append("the job left its target file behind")
    finally:
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"all {len(exprs)} dashboard expressions returned data")


main()
