"""Shared pieces of the cluster tests (tests/cluster/*_test.py): a small tokenised Moving-MNIST
corpus built with the real `loong` commands, a short two-stage `loong train` job config on it,
the training log, and a check() that collects failures.
"""
import json
import os
import subprocess


class Checks:
    """Prints each check as it happens; finish() exits 1 listing the failures."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("  ok   " if cond else "  FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def finish(self, name):
        if self.failures:
            print("FAILED:\n  " + "\n  ".join(self.failures), flush=True)
            raise SystemExit(1)
        print(f"{name}: all checks passed", flush=True)


def sh(*args, **kw):
    """Runs a command; its stdout, or CalledProcessError (with the output) if it fails."""
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw).stdout


# A video tokenizer small enough to train and encode in seconds: the tests need real codes of the
# right shape (8x8 per latent frame at 64x64 pixels), not good reconstructions.
TINY_TOKENIZER = """
[tokenizer]
channels = [4, 8, 8]
latent_channels = 4
res_blocks = 0
groups = 4
codebook_size = 64
[train]
batch = 2
frames = 5
"""


def build_corpus(loong, work, train_clips=24, test_clips=8, tokenizer_steps=4):
    """Moving-MNIST clips (17 frames, real MNIST digits) -> mp4 -> `loong ingest` -> SentencePiece text
    tokens -> a briefly trained tiny video tokenizer -> video tokens. Returns the corpus directory."""
    mm, db, tok = (os.path.join(work, n) for n in ("mm", "corpus", "tok"))
    tok_config = os.path.join(work, "tokenizer_tiny.toml")
    with open(tok_config, "w") as f:
        f.write(TINY_TOKENIZER)
    sh(loong, "dataset", "moving-mnist", "--out", mm, "--count", train_clips, "--frames", 17, "--split", "train")
    sh(loong, "dataset", "moving-mnist", "--out", mm, "--count", test_clips, "--frames", 17, "--split", "test",
       "--seed", 2)
    for split in ("train", "test"):
        sh(loong, "ingest", "--manifest", os.path.join(mm, split + ".csv"), "--db", db, "--clip-frames", 17,
           "--no-progress")
    sh(loong, "text", "train", "--db", db, "--vocab-size", 64)
    sh(loong, "tokenizer", "train", "--db", db, "--config", tok_config, "--out", tok, "--steps", tokenizer_steps)
    sh(loong, "tokenizer", "encode", "--db", db, "--tokenizer", tok, "--id", "default")
    return db


def write_job(path, db, checkpoint_dir, steps, checkpoint_every, extra=""):
    """A small `loong train` job: a 2-layer Llama, stage 1 (first frame) then stage 2 (5 latent
    frames), steps // 2 each; checkpoints every `checkpoint_every` steps. Returns `path`."""
    with open(path, "w") as f:
        f.write(f"""
[model]
hidden_size = 64
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
intermediate_size = 176
[data]
db = "{db}"
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
steps = {steps - steps // 2}
[checkpoint]
dir = "{checkpoint_dir}"
every = {checkpoint_every}
keep_last = 20
{extra}
""")
    return path


def train_log(checkpoint_dir):
    """The training log as runs: [{"event": "start"|"resume", "start": step, "steps": [entry, ...]}]."""
    runs = []
    with open(os.path.join(checkpoint_dir, "train_log.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if "event" in j:
                runs.append({"event": j["event"], "start": j["step"], "steps": []})
            elif not j.get("eval"):
                runs[-1]["steps"].append(j)
    return runs


def final_loss(checkpoint_dir, step):
    """The loss logged for `step` by the last run that reached it (None if none did)."""
    last = None
    for run in train_log(checkpoint_dir):
        for s in run["steps"]:
            if s["step"] == step:
                last = s["loss"]
    return last


def checkpoint_file(checkpoint_dir, step, name="model.safetensors"):
    return os.path.join(checkpoint_dir, f"step_{step:08d}", name)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
