#!/usr/bin/python3
"""`loong ingest` and `loong tokenizer train` serve their progress as Prometheus metrics.

usage: progress_metrics_test.py LOONG_EXE WORKDIR

Each command runs with its exporter on loopback (port 0) and a file-SD target directory; the test
reads the port from the target file the command writes, scrapes GET /metrics over HTTP while the
command works and once more after it has printed its summary (--metrics-linger keeps the exporter
up for that last scrape), and checks:
  ingest: a manifest of Moving-MNIST videos plus one line of each skip reason the test can provoke
    (malformed line, missing file, a file that is not a video, a video over --max-duration, one
    shorter than --min-frames): progress seen part-way; counters never go down; at the end the
    videos/clips/frames counters equal the printed summary, and skips are counted per reason; a
    second ingest of the same manifest counts every video as present;
  tokenizer train: the step seen part-way; at the end step = steps planned, clips = steps x batch,
    the loss / perplexity / codes-in-use gauges equal the last logged step, usage = in use / K,
    one checkpoint counted per save.
The target file is gone once the command has exited.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

from mnist_job import TINY_TOKENIZER, Checks, sh

LOONG, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
check = Checks()


def parse_metrics(text):
    """Prometheus text format -> {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
            out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())))


class Scraper:
    """Runs a command with its exporter and scrapes it until the command exits."""

    def __init__(self, name, args, targets, job_name):
        self.out_path = os.path.join(WORK, name + ".out")
        self.err_path = os.path.join(WORK, name + ".err")
        self.target_file = os.path.join(targets, job_name + ".json")
        self.proc = subprocess.Popen([LOONG, *args, "--metrics-targets", targets, "--metrics-job-name", job_name,
                                      "--metrics-linger", "3"], stdin=subprocess.DEVNULL,
                                     stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"))
        self.scrapes = []  # (finished: summary already printed, metrics)
        self.target = None

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def run(self, finished_marker, timeout=240):
        """Scrapes every 50 ms; returns the exit status (None on timeout, after killing it)."""
        t0 = time.time()
        url = None
        while self.proc.poll() is None and time.time() - t0 < timeout:
            if url is None and os.path.exists(self.target_file):
                with open(self.target_file) as f:
                    self.target = json.load(f)
                url = f"http://{self.target[0]['targets'][0]}/metrics"
            if url:
                finished = finished_marker in self.stdout()  # read before the scrape: values are final
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        self.scrapes.append((finished, parse_metrics(r.read().decode())))
                except OSError:
                    pass  # the exporter is shutting down
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return None
        return self.proc.returncode

    def final(self):
        done = [m for f, m in self.scrapes if f]
        return done[-1] if done else {}

    def monotonic(self, name):
        """Every series of counter `name` never decreases from one scrape to the next."""
        last = {}
        for _, m in self.scrapes:
            for (n, labels), v in m.items():
                if n == name:
                    if v < last.get(labels, 0):
                        return False
                    last[labels] = v
        return True


def check_target(s, job_name):
    t = s.target
    check(t is not None and re.fullmatch(r"127\.0\.0\.1:\d+", t[0]["targets"][0]) is not None and
          t[0]["labels"]["job_name"] == job_name, f"{job_name}: target file announces 127.0.0.1:PORT ({t})")
    check(not os.path.exists(s.target_file), f"{job_name}: target file removed when the command ended")


def ingest_part(targets):
    print("ingest")
    mm = os.path.join(WORK, "mm")
    sh(LOONG, "dataset", "moving-mnist", "--out", mm, "--count", 24, "--frames", 65, "--split", "train")
    sh(LOONG, "dataset", "moving-mnist", "--out", os.path.join(WORK, "short"), "--count", 1, "--frames", 3, "--seed", 3)
    sh(LOONG, "dataset", "moving-mnist", "--out", os.path.join(WORK, "long"), "--count", 1, "--frames", 161,
       "--seed", 4)
    with open(os.path.join(WORK, "not_a_video.mp4"), "w") as f:
        f.write("this is text, not a video\n")
    with open(os.path.join(mm, "train.csv")) as f:
        lines = f.read().splitlines()
    lines[1:1] = [
        '"unterminated quote,caption',  # malformed line
        "missing.mp4,a file that is not there,train",
        "not_a_video.mp4,text in an mp4 name,train",
        f"{WORK}/short/train/000000.mp4,three frames,train",  # 3 frames < --min-frames 5
        f"{WORK}/long/train/000000.mp4,twenty seconds,train",  # 161 frames at 8 fps > --max-duration 15
    ]
    # The manifest lives in mm/ so that its relative paths stay valid; the extra files are absolute.
    lines = [l.replace("missing.mp4", f"{WORK}/missing.mp4").replace("not_a_video.mp4", f"{WORK}/not_a_video.mp4")
             for l in lines]
    manifest = os.path.join(mm, "with_problems.csv")
    with open(manifest, "w") as f:
        f.write("\n".join(lines) + "\n")
    db = os.path.join(WORK, "corpus")
    args = ["ingest", "--manifest", manifest, "--db", db, "--clip-frames", 17, "--min-frames", 5, "--max-duration",
            15, "--threads", 1, "--no-progress"]
    s = Scraper("ingest", [str(a) for a in args], targets, "ingest-test")
    rc = s.run("ingest:")
    summary = re.search(r"ingest: (\d+) videos listed, (\d+) ingested, (\d+) already present; (\d+) clips, (\d+) frames; "
                        r"(\d+) skipped", s.stdout())
    check(rc == 2 and summary is not None, f"ingest exits 2 (lines skipped) and prints its summary (exit {rc})")
    if summary is None:
        print(s.stdout()[-2000:], s.stderr()[-2000:])
        return db
    listed, ingested, present, clips, frames, skipped = (int(g) for g in summary.groups())
    print(f"    summary: {summary.group(0)}; {len(s.scrapes)} scrapes")
    mid = [m for f, m in s.scrapes
           if not f and 0 < (value(m, "loong_ingest_progress_ratio") or 0) < 1]
    check(len(mid) > 0, f"progress seen part-way ({len(mid)} scrapes with 0 < loong_ingest_progress_ratio < 1)")
    if mid:
        m = mid[len(mid) // 2]
        print(f"    part-way: progress {value(m, 'loong_ingest_progress_ratio'):.2f}, "
              f"frames {value(m, 'loong_ingest_frames_total'):.0f}, "
              f"{value(m, 'loong_ingest_frames_per_second'):.0f} frames/s")
    for name in ("loong_ingest_frames_total", "loong_ingest_clips_total", "loong_ingest_videos_processed_total",
                 "loong_ingest_skipped_total"):
        check(s.monotonic(name), f"{name} never decreases")
    m = s.final()
    check(value(m, "loong_ingest_videos_listed") == listed, f"videos listed = summary ({listed})")
    check(value(m, "loong_ingest_videos_processed_total", outcome="ingested") == ingested,
          f"videos ingested = summary ({ingested})")
    check(value(m, "loong_ingest_clips_total") == clips, f"clips = summary ({clips})")
    check(value(m, "loong_ingest_frames_total") == frames and frames > 0, f"frames = summary ({frames})")
    check(value(m, "loong_ingest_progress_ratio") == 1.0, "progress ends at 1")
    check((value(m, "loong_ingest_frames_per_second") or 0) > 0, "frames/s is positive")
    skip_lines = [l for l in s.stderr().splitlines() if l.startswith("skipped: ")]
    check(len(skip_lines) == skipped == 5, f"five lines skipped, each reported ({len(skip_lines)} on stderr)")
    by_reason = {r: value(m, "loong_ingest_skipped_total", reason=r) for r in
                 ("manifest_line", "missing_file", "undecodable", "over_limit", "too_short", "io_error")}
    check(by_reason == {"manifest_line": 1, "missing_file": 1, "undecodable": 1, "over_limit": 1, "too_short": 1,
                        "io_error": 0}, f"skips counted per reason: {by_reason}")
    check(value(m, "loong_ingest_videos_processed_total", outcome="skipped") == 4,
          "the four skipped videos (not the malformed line) are processed with outcome=skipped")
    check_target(s, "ingest-test")

    again = Scraper("ingest_again", [str(a) for a in args], targets, "ingest-test")
    again.run("ingest:")
    m = again.final()
    check(value(m, "loong_ingest_videos_processed_total", outcome="present") == ingested and
          value(m, "loong_ingest_frames_total") == 0, f"a second ingest counts all {ingested} videos as present, "
                                                      f"writes no frames")
    return db


def tokenizer_part(db, targets):
    print("tokenizer train")
    steps, batch, save_every = 8, 2, 3
    config = os.path.join(WORK, "tokenizer.toml")
    with open(config, "w") as f:
        f.write(TINY_TOKENIZER.replace("batch = 2", f"batch = {batch}") + f"log_every = 1\nsave_every = {save_every}\n")
    s = Scraper("tokenizer", ["tokenizer", "train", "--db", db, "--config", config, "--out", os.path.join(WORK, "tok"),
                              "--steps", str(steps)], targets, "tokenizer-test")
    rc = s.run("tokenizer saved to")
    check(rc == 0, f"tokenizer train exits 0 (got {rc}); {len(s.scrapes)} scrapes")
    logged = re.findall(r"step +(\d+) +l1 (\S+) +l2 (\S+) +codebook (\S+) +batch perplexity (\S+) +codes in use (\d+)",
                        s.stdout())
    if not check(len(logged) == steps, f"every step logged ({len(logged)})"):
        print(s.stdout()[-2000:], s.stderr()[-2000:])
        return
    mid = [value(m, "loong_tokenizer_train_step") for f, m in s.scrapes
           if not f and 0 < (value(m, "loong_tokenizer_train_step") or 0) < steps]
    check(len(mid) > 0, f"the step seen part-way (steps {sorted(set(int(x) for x in mid))})")
    check(s.monotonic("loong_tokenizer_train_clips_total"), "clips counter never decreases")
    m = s.final()
    check(value(m, "loong_tokenizer_train_step") == steps and value(m, "loong_tokenizer_train_steps_planned") == steps,
          f"step = steps planned = {steps}")
    check(value(m, "loong_tokenizer_train_clips_total") == steps * batch, f"clips trained = {steps} x {batch}")
    last = logged[-1]
    l1, l2, vq, ppl = (float(x) for x in last[1:5])
    in_use = int(last[5])
    got = {k: value(m, "loong_tokenizer_train_loss", kind=k) for k in ("l1", "l2", "codebook", "commitment", "total")}
    check(abs(got["l1"] - l1) <= 5e-5 and abs(got["l2"] - l2) <= 5e-5 and abs(got["codebook"] - vq) <= 5e-5,
          f"losses = the last logged step's (l1 {got['l1']:.5f} vs {l1}, l2 {got['l2']:.5f} vs {l2}, "
          f"codebook {got['codebook']:.5f} vs {vq})")
    check(all(v is not None and math.isfinite(v) for v in got.values()) and
          abs(got["total"] - (got["l1"] + got["l2"] + got["codebook"] + got["commitment"])) < 1e-9,
          "total = l1 + l2 + codebook + commitment")
    check(abs(value(m, "loong_tokenizer_codebook_perplexity") - ppl) <= 0.05,
          f"perplexity = the last logged step's ({value(m, 'loong_tokenizer_codebook_perplexity'):.2f} vs {ppl})")
    check(value(m, "loong_tokenizer_codebook_codes_in_use") == in_use and
          value(m, "loong_tokenizer_codebook_usage_ratio") == in_use / 64,
          f"codes in use = {in_use}, usage ratio = {in_use}/64")
    check((value(m, "loong_tokenizer_train_clips_per_second") or 0) > 0, "clips/s is positive")
    saves = len(range(save_every, steps + 1, save_every)) + (1 if steps % save_every else 0)
    check(value(m, "loong_tokenizer_checkpoints_written_total") == saves, f"{saves} saves counted")
    check_target(s, "tokenizer-test")


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    targets = os.path.join(WORK, "targets")
    t0 = time.time()
    db = ingest_part(targets)
    tokenizer_part(db, targets)
    print(f"total {time.time() - t0:.1f} s")
    check.finish("progress metrics")


main()
