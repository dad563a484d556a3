#!/usr/bin/python3
"""Bad inputs to `loong dataset`, `inspect`, `train` and `tokenizer`: each a clear error, nothing written.

usage: bad_inputs_test.py LOONG_EXE WORKDIR

Builds a small valid setup first (testsrc2 videos -> `loong ingest` -> `loong text train` -> a
1-step tokenizer -> `loong tokenizer encode`, and a train config that runs), so that each bad case
below differs from a working invocation in one input only. Then, for every case of CASES:
  - the exit status is the expected one: 1 for a bad file, key or value (core/error.h), 2 for a
    malformed command line (a flag whose value does not parse: apps/main.cpp's usage status),
    never a signal or an abort (>= 128, or negative from subprocess);
  - stderr names the offending file, key or value (every listed needle appears);
  - no output was written where the command refused (every listed path is absent, or, for a
    directory that existed before, unchanged);
  - no traceback or "terminate called" (an uncaught exception) in stderr.
Cases that fail are listed by name at the end; the test fails if any does.
"""
import os
import shutil
import subprocess
import sys

LOONG, WORK = sys.argv[1:3]
W = os.path.abspath(WORK)
failures = []


def say(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class TimedOut:
    """What a case that did not finish looks like (subprocess.run has killed it)."""
    def __init__(self, e, timeout):
        self.returncode = f"none: still running after {timeout} s (killed)"
        self.stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        self.stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")


def run(args, timeout=30):
    """A bad input must be refused at once: 30 s is far more than any refusal takes here."""
    try:
        return subprocess.run([LOONG, *args], capture_output=True, text=True, timeout=timeout, cwd=W,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
    except subprocess.TimeoutExpired as e:
        return TimedOut(e, timeout)


def must(args, what):
    r = run(args, timeout=300)
    if r.returncode != 0:  # includes a time-out
        sys.exit(f"setup: {what} failed (exit {r.returncode}): loong {' '.join(args)}\n{r.stdout[-2000:]}\n"
                 f"{r.stderr[-2000:]}")
    return r


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


# --- the valid setup ------------------------------------------------------------------------------

TOKENIZER_TOML = """
[tokenizer]
patch = 2
block_temporal_kernel = 1
channels = [8, 8]
latent_channels = 4
res_blocks = 1
groups = 4
codebook_size = 16
[train]
steps = 1
batch = 1
frames = 5
save_every = 1
log_every = 1
"""

TRAIN_TOML = """
[model]
hidden_size = 32
num_hidden_layers = 2
num_attention_heads = 2
intermediate_size = 64
[data]
db = "{W}/corpus"
tokenizer = "default"
text_budget = 8
[train]
eval_every = 0
[[curriculum.stage]]
latent_frames = 1
batch_tokens = 64
steps = 2
lr = 1e-3
[checkpoint]
dir = "{ckpt}"
"""


def train_cfg(name, ckpt=None, replace=(), append=""):
    """A train config differing from the valid one by `replace` ((old, new) pairs) and `append`."""
    text = TRAIN_TOML.format(W=W, ckpt=ckpt or f"{W}/ckpt_{name}")
    for old, new in replace:
        assert old in text, f"case {name}: '{old}' is not in the valid config"
        text = text.replace(old, new)
    return write(f"{W}/cfg/{name}.toml", text + append)


def tok_cfg(name, replace=()):
    text = TOKENIZER_TOML
    for old, new in replace:
        assert old in text, f"case {name}: '{old}' is not in the tokenizer config"
        text = text.replace(old, new)
    return write(f"{W}/cfg/{name}.toml", text)


def setup():
    shutil.rmtree(W, ignore_errors=True)
    os.makedirs(W)
    rows = ["path,caption,split"]
    for i, (split, caption) in enumerate([("train", "a red pattern moves left"), ("train", "a blue pattern moves right"),
                                          ("train", "the green pattern stays"), ("test", "a red pattern stays")]):
        f = f"{W}/v{i}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=8", "-ss", str(i),
                        "-t", "2.125", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", f], check=True)
        rows.append(f"{f},{caption},{split}")
    write(f"{W}/m.csv", "\n".join(rows) + "\n")
    must(["ingest", "--manifest", f"{W}/m.csv", "--db", f"{W}/corpus", "--clip-frames", "17", "--no-progress"], "ingest")
    must(["text", "train", "--db", f"{W}/corpus", "--vocab-size", "40"], "text train")
    must(["tokenizer", "train", "--db", f"{W}/corpus", "--config", tok_cfg("tok_ok"), "--out", f"{W}/tok"],
         "tokenizer train")
    must(["tokenizer", "encode", "--db", f"{W}/corpus", "--tokenizer", f"{W}/tok", "--id", "default"], "encode")
    must(["train", "--config", train_cfg("ok"), "--no-metrics"], "the valid train config")
    write(f"{W}/a_file", "not a directory\n")
    os.makedirs(f"{W}/empty_dir")
    os.makedirs(f"{W}/a_dir")


# --- the cases ------------------------------------------------------------------------------------
# (name, argv (built lazily: configs are written when the case runs), expected exit status,
#  needles that stderr must contain, paths that must not exist afterwards)

USAGE = 2  # apps/main.cpp: a malformed command line (CLI11 parse/validation error)


def cases():
    mm = ["dataset", "moving-mnist", "--count", "2"]
    return [
        # loong dataset moving-mnist
        ("dataset: negative --count", lambda: ["dataset", "moving-mnist", "--out", f"{W}/mm_neg", "--count", "-5"], 1,
         ["count", "-5"], [f"{W}/mm_neg"]),
        ("dataset: zero --count", lambda: ["dataset", "moving-mnist", "--out", f"{W}/mm_zero", "--count", "0"], 1,
         ["count", "0"], [f"{W}/mm_zero"]),
        ("dataset: --count not a number", lambda: ["dataset", "moving-mnist", "--out", f"{W}/mm_abc", "--count", "abc"],
         USAGE, ["--count", "abc"], [f"{W}/mm_abc"]),
        ("dataset: --digits 3", lambda: mm + ["--out", f"{W}/mm_d3", "--digits", "3"], 1, ["digits", "3"],
         [f"{W}/mm_d3"]),
        ("dataset: --frames 0", lambda: mm + ["--out", f"{W}/mm_f0", "--frames", "0"], 1, ["frames", "0"],
         [f"{W}/mm_f0"]),
        ("dataset: negative --frames", lambda: mm + ["--out", f"{W}/mm_fneg", "--frames", "-17"], 1, ["frames", "-17"],
         [f"{W}/mm_fneg"]),
        ("dataset: unknown --split", lambda: mm + ["--out", f"{W}/mm_split", "--split", "validation"], 1,
         ["split", "validation"], [f"{W}/mm_split"]),
        ("dataset: --out under a regular file", lambda: mm + ["--out", f"{W}/a_file/mm"], 1, [f"{W}/a_file"], []),
        ("dataset: --out is a regular file", lambda: mm + ["--out", f"{W}/a_file"], 1, [f"{W}/a_file"], []),
        # loong inspect
        ("inspect: nonexistent --db", lambda: ["inspect", "--db", f"{W}/no_such_db"], 1, [f"{W}/no_such_db"],
         [f"{W}/no_such_db"]),
        ("inspect: --db is a regular file", lambda: ["inspect", "--db", f"{W}/a_file"], 1, [f"{W}/a_file"], []),
        ("inspect: --db is an empty directory", lambda: ["inspect", "--db", f"{W}/empty_dir"], 1, [f"{W}/empty_dir"],
         [f"{W}/empty_dir/CURRENT"]),
        # loong train
        ("train: missing --config", lambda: ["train", "--config", f"{W}/no_such.toml"], (1, USAGE),
         [f"{W}/no_such.toml"], []),
        ("train: --config is a directory", lambda: ["train", "--config", f"{W}/a_dir"], (1, USAGE), [f"{W}/a_dir"], []),
        ("train: unknown key", lambda: ["train", "--config", train_cfg("unknown", append="[trainer]\nsteps = 3\n")], 1,
         ["trainer.steps"], [f"{W}/ckpt_unknown"]),
        ("train: lr not a number", lambda: ["train", "--config", train_cfg("lr_str", replace=[("lr = 1e-3",
                                                                                                 'lr = "fast"')])], 1,
         ["lr_str.toml", "'lr'", "number"], [f"{W}/ckpt_lr_str"]),
        ("train: lr = inf", lambda: ["train", "--config", train_cfg("lr_inf", replace=[("lr = 1e-3", "lr = inf")])], 1,
         ["lr", "inf"], [f"{W}/ckpt_lr_inf"]),
        ("train: negative hidden_size", lambda: ["train", "--config", train_cfg(
            "hidden_neg", replace=[("hidden_size = 32", "hidden_size = -32")])], 1, ["hidden_size", "-32"],
         [f"{W}/ckpt_hidden_neg"]),
        ("train: stage steps = 0", lambda: ["train", "--config", train_cfg(
            "steps0", replace=[("steps = 2", "steps = 0")])], 1, ["steps", "0"], [f"{W}/ckpt_steps0"]),
        ("train: negative batch_tokens", lambda: ["train", "--config", train_cfg(
            "bt_neg", replace=[("batch_tokens = 64", "batch_tokens = -64")])], 1, ["batch_tokens", "-64"],
         [f"{W}/ckpt_bt_neg"]),
        ("train: nonexistent data.db", lambda: ["train", "--config", train_cfg(
            "nodb", replace=[(f'db = "{W}/corpus"', f'db = "{W}/no_such_corpus"')]), "--no-metrics"], 1,
         [f"{W}/no_such_corpus"], [f"{W}/no_such_corpus", f"{W}/ckpt_nodb"]),
        ("train: data.db is a regular file", lambda: ["train", "--config", train_cfg(
            "dbfile", replace=[(f'db = "{W}/corpus"', f'db = "{W}/a_file"')]), "--no-metrics"], 1, [f"{W}/a_file"],
         [f"{W}/ckpt_dbfile"]),
        ("train: checkpoint.dir under a regular file", lambda: ["train", "--config", train_cfg(
            "ckfile", ckpt=f"{W}/a_file/ckpt"), "--no-metrics"], 1, [f"{W}/a_file"], []),
        ("train: --resume nonexistent", lambda: ["train", "--config", train_cfg("resume_none"), "--resume",
                                                 f"{W}/no_such_ckpt", "--no-metrics"], 1, [f"{W}/no_such_ckpt"],
         [f"{W}/ckpt_resume_none/step_00000002"]),
        ("train: --tp 0", lambda: ["train", "--config", train_cfg("tp0"), "--tp", "0", "--no-metrics"], 1, ["tp", "0"],
         [f"{W}/ckpt_tp0"]),
        ("train: --tp not a number", lambda: ["train", "--config", train_cfg("tpabc"), "--tp", "two", "--no-metrics"],
         USAGE, ["--tp", "two"], [f"{W}/ckpt_tpabc"]),
        # loong tokenizer
        ("tokenizer train: nonexistent --db", lambda: ["tokenizer", "train", "--db", f"{W}/no_such_db", "--config",
                                                       tok_cfg("tok_a"), "--out", f"{W}/tok_nodb"], 1,
         [f"{W}/no_such_db"], [f"{W}/no_such_db", f"{W}/tok_nodb"]),
        ("tokenizer train: missing --config", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config",
                                                       f"{W}/no_such_tok.toml", "--out", f"{W}/tok_nocfg"], 1,
         [f"{W}/no_such_tok.toml"], [f"{W}/tok_nocfg"]),
        ("tokenizer train: --config is a directory", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config",
                                                              f"{W}/a_dir", "--out", f"{W}/tok_cfgdir"], 1,
         [f"{W}/a_dir"], [f"{W}/tok_cfgdir"]),
        ("tokenizer train: unknown key", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config", tok_cfg(
            "tok_unknown", replace=[("codebook_size = 16", "codebook_size = 16\ncodebook_sise = 16")]), "--out",
                                                  f"{W}/tok_unknown"], 1, ["codebook_sise"], [f"{W}/tok_unknown"]),
        ("tokenizer train: negative codebook_size", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config",
                                                             tok_cfg("tok_cbneg", replace=[("codebook_size = 16",
                                                                                            "codebook_size = -16")]),
                                                             "--out", f"{W}/tok_cbneg"], 1, ["codebook_size", "-16"],
         [f"{W}/tok_cbneg"]),
        ("tokenizer train: lr not a number", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config",
                                                      tok_cfg("tok_lr", replace=[("steps = 1", 'steps = 1\nlr = "x"')]),
                                                      "--out", f"{W}/tok_lr"], 1, ["lr"], [f"{W}/tok_lr"]),
        ("tokenizer train: channel width not a number", lambda: ["tokenizer", "train", "--db", f"{W}/corpus",
                                                                 "--config", tok_cfg("tok_ch", replace=[(
                                                                     "channels = [8, 8]", 'channels = [8, "x"]')]),
                                                                 "--out", f"{W}/tok_ch"], 1, ["tok_ch.toml", "tokenizer.channels"],
         [f"{W}/tok_ch"]),
        ("tokenizer train: negative --steps", lambda: ["tokenizer", "train", "--db", f"{W}/corpus", "--config",
                                                       tok_cfg("tok_st"), "--out", f"{W}/tok_st", "--steps", "-3"], 1,
         ["steps", "-3"], [f"{W}/tok_st"]),
        ("tokenizer train: --out under a regular file", lambda: ["tokenizer", "train", "--db", f"{W}/corpus",
                                                                 "--config", tok_cfg("tok_of"), "--out",
                                                                 f"{W}/a_file/tok"], 1, [f"{W}/a_file"], []),
        ("tokenizer encode: nonexistent --db", lambda: ["tokenizer", "encode", "--db", f"{W}/no_such_db2",
                                                        "--tokenizer", f"{W}/tok", "--id", "x"], 1,
         [f"{W}/no_such_db2"], [f"{W}/no_such_db2"]),
        ("tokenizer encode: nonexistent --tokenizer", lambda: ["tokenizer", "encode", "--db", f"{W}/corpus",
                                                               "--tokenizer", f"{W}/no_such_tok", "--id", "y"], 1,
         [f"{W}/no_such_tok"], [f"{W}/no_such_tok"]),
        ("tokenizer eval: nonexistent --db", lambda: ["tokenizer", "eval", "--db", f"{W}/no_such_db3", "--tokenizer",
                                                      f"{W}/tok", "--clips", "1"], 1, [f"{W}/no_such_db3"],
         [f"{W}/no_such_db3"]),
        ("tokenizer eval: negative --clips", lambda: ["tokenizer", "eval", "--db", f"{W}/corpus", "--tokenizer",
                                                      f"{W}/tok", "--clips", "-1"], 1, ["clips", "-1"], []),
        ("tokenizer eval: --png under a regular file", lambda: ["tokenizer", "eval", "--db", f"{W}/corpus",
                                                                "--tokenizer", f"{W}/tok", "--clips", "1", "--frames",
                                                                "5", "--png", f"{W}/a_file/x.png"], 1,
         [f"{W}/a_file"], []),
    ]


def main():
    setup()
    failed_cases = []
    for name, argv, want_rc, needles, absent in cases():
        args = argv()
        r = run(args)
        err = r.stderr
        wants = want_rc if isinstance(want_rc, tuple) else (want_rc,)
        problems = []
        if r.returncode not in wants:
            problems.append(f"exit {r.returncode}, want {' or '.join(map(str, wants))}")
        missing = [n for n in needles if n not in err]
        if missing:
            problems.append(f"stderr does not name {missing}")
        written = [p for p in absent if os.path.exists(p)]
        if written:
            problems.append(f"wrote {written}")
        if "terminate called" in err or "Traceback" in err:
            problems.append("uncaught exception")
        last = err.strip().splitlines()[-1][:200] if err.strip() else "(empty stderr)"
        say(not problems, f"{name}: {'; '.join(problems) + ' -- ' if problems else ''}{last}")
        if problems:
            failed_cases.append(name)
        for p in written:  # leave the next case a clean slate
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)
    r = run(["inspect", "--db", f"{W}/corpus"])
    say(r.returncode == 0, "the valid corpus still opens after the battery (inspect exits 0)")
    if not os.path.isfile(f"{W}/a_file"):
        say(False, "a_file is still a regular file (no case replaced it)")
    print(f"{len(cases()) - len(failed_cases)} of {len(cases())} cases as required")
    if failed_cases:
        print("FAILED cases:\n  " + "\n  ".join(failed_cases))
        sys.exit(1)


if __name__ == "__main__":  # tests/cli/job_faults_test.py imports the setup
    main()
