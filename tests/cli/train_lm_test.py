#!/usr/bin/python3
"""`loong train-lm` end to end: a tiny byte-level Llama on the GPL-3 text.

usage: train_lm_test.py LOONG_EXE REPO_DIR WORKDIR

  1. 80 steps of a tiny config exit 0, and the validation loss it prints falls from about
     ln 256 (uniform over bytes) at step 0 by at least 1 nat at the end;
  2. the checkpoint <output.dir>/step_00000080/ holds model.safetensors with the Hugging Face
     Llama tensor names and shapes of the config, all finite, and config.json with the config's
     values; it is read by tests/reference/safetensors_io.py (written from the format, not the
     C++ reader);
  3. the PyTorch reference Llama (tests/reference/llama_torch.py) built from those weights gives
     the final validation loss the command printed, on the same held-out windows (the last 10% of
     the file's bytes, `batch` windows of `seq` tokens evenly spaced, as configs/text_lm.toml
     documents the validation split), within fp32 and print rounding.
train-lm has no resume (it trains from scratch every time; README.md): nothing to test there.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

LOONG, REPO, WORK = sys.argv[1:4]
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
import torch  # noqa: E402
from llama_torch import Llama, read_safetensors, weighted_loss  # noqa: E402

failures = []
TEXT = "/usr/share/common-licenses/GPL-3"
STEPS, BATCH, SEQ = 80, 4, 32
CFG = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
       "intermediate_size": 64, "max_position_embeddings": 64, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
       "vocab_size": 256}


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    out = os.path.join(WORK, "out")
    cfg = os.path.join(WORK, "lm.toml")
    with open(cfg, "w") as f:
        f.write(f"""
[data]
text = "{TEXT}"
validation_fraction = 0.1
[model]
hidden_size = {CFG["hidden_size"]}
num_hidden_layers = {CFG["num_hidden_layers"]}
num_attention_heads = {CFG["num_attention_heads"]}
num_key_value_heads = {CFG["num_key_value_heads"]}
intermediate_size = {CFG["intermediate_size"]}
max_position_embeddings = {CFG["max_position_embeddings"]}
[train]
steps = {STEPS}
batch = {BATCH}
seq = {SEQ}
lr = 1e-2
min_lr = 1e-3
warmup_steps = 5
eval_every = 40
[output]
dir = "{out}"
""")
    r = subprocess.run([LOONG, "train-lm", "--config", cfg], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    check(r.returncode == 0, f"train-lm exits 0 (got {r.returncode})")
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        sys.exit(1)
    vals = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"step +(\d+) .*?validation loss ([0-9.]+)", r.stdout)}
    print(f"  validation losses printed: {vals}")
    check(sorted(vals) == [0, 40, 80], f"validation loss printed at steps 0, 40, 80 ({sorted(vals)})")
    v0, vend = vals.get(0, float("nan")), vals.get(STEPS, float("nan"))
    check(abs(v0 - math.log(256)) < 0.3, f"step 0: about uniform over bytes ({v0:.4f} vs ln 256 = {math.log(256):.4f})")
    check(vend < v0 - 1.0, f"validation loss falls by more than 1 nat ({v0:.4f} -> {vend:.4f})")

    ckpt = os.path.join(out, f"step_{STEPS:08d}")
    check(os.path.isfile(os.path.join(ckpt, "model.safetensors")) and os.path.isfile(os.path.join(ckpt, "config.json")),
          f"checkpoint {ckpt} has model.safetensors and config.json")
    w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    C, I, H, KV, V = (CFG[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads",
                                       "num_key_value_heads", "vocab_size"))
    D = C // H
    want = {"model.embed_tokens.weight": (V, C), "model.norm.weight": (C,), "lm_head.weight": (V, C)}
    for l in range(CFG["num_hidden_layers"]):
        p = f"model.layers.{l}."
        want.update({p + "input_layernorm.weight": (C,), p + "self_attn.q_proj.weight": (H * D, C),
                     p + "self_attn.k_proj.weight": (KV * D, C), p + "self_attn.v_proj.weight": (KV * D, C),
                     p + "self_attn.o_proj.weight": (C, H * D), p + "post_attention_layernorm.weight": (C,),
                     p + "mlp.gate_proj.weight": (I, C), p + "mlp.up_proj.weight": (I, C),
                     p + "mlp.down_proj.weight": (C, I)})
    got = {n: tuple(t.shape) for n, t in w.items()}
    check(got == want, f"Hugging Face Llama tensor names and shapes ({len(got)} tensors; "
                       f"differing: {sorted(set(got.items()) ^ set(want.items()))[:4]})")
    check(all(bool(torch.isfinite(t).all()) for t in w.values()), "every weight is finite")
    hf = json.load(open(os.path.join(ckpt, "config.json")))
    check(all(hf.get(k) == v for k, v in CFG.items()) and hf.get("model_type") == "llama",
          f"config.json holds the config (model_type {hf.get('model_type')!r})")

    # The reference model's loss on the held-out windows.
    data = open(TEXT, "rb").read()
    n_val = int(len(data) * 0.1)
    val = torch.tensor(list(data[len(data) - n_val:]), dtype=torch.int64)
    windows = max(1, min(BATCH, (n_val - 1) // SEQ))
    stride = (n_val - SEQ - 1) // windows
    x = torch.stack([val[b * stride:b * stride + SEQ] for b in range(windows)])
    y = torch.stack([val[b * stride + 1:b * stride + SEQ + 1] for b in range(windows)])
    with torch.no_grad():
        ref = float(weighted_loss(Llama(hf, w)(x), y, torch.ones_like(y, dtype=torch.float32)))
    check(abs(ref - vend) < 1e-3,
          f"the PyTorch reference on the saved weights gives the printed validation loss ({ref:.5f} vs {vend:.4f})")

    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("train-lm: all checks passed")


main()
