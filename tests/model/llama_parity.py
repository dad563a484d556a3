#!/usr/bin/python3
"""PyTorch parity check for the C++ Llama (llm.c style).

Builds LlamaForCausalLM's computation in plain PyTorch (pre-norm RMSNorm, rotate-half RoPE,
grouped-query causal attention, SwiGLU, untied lm_head) from the safetensors file the C++ side
wrote, feeds the same tokens and per-token weights, and checks logits, weighted loss, every
parameter gradient (each within 1e-4 relative, element-wise: max |ours - torch| / max |torch|, and
norm-wise), and the weights after 10 AdamW steps with gradient clipping (within 1e-4 norm-wise:
||ours - torch|| / ||torch|| per tensor; see check()), fp32.

usage: llama_parity.py DUMP_EXE WORKDIR
"""
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from llama_torch import Llama, read_safetensors, weighted_loss  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
TOL = 1e-4

failures = []


def check(name, ours, ref, elementwise=True):
    """Relative error of a tensor: max |ours - ref| / max |ref| (element-wise) and
    ||ours - ref|| / ||ref|| (norm-wise). Both are bounded for logits, loss and gradients. After
    10 AdamW steps only the norm-wise error is: Adam turns the fp32 rounding of a near-zero
    gradient element (summation order differs between OpenBLAS and PyTorch) into an update
    difference of a sizeable fraction of the learning rate for that one element."""
    ours, ref = ours.double(), ref.double()
    if ours.shape != ref.shape:
        failures.append(f"{name}: shape {tuple(ours.shape)} vs torch {tuple(ref.shape)}")
        return
    scale = ref.abs().max().item()
    elem = (ours - ref).abs().max().item() / (scale if scale > 0 else 1.0)
    norm = ref.norm().item()
    normwise = (ours - ref).norm().item() / (norm if norm > 0 else 1.0)
    bad = normwise > TOL or (elementwise and elem > TOL) or not math.isfinite(elem)
    print(f"  {'FAIL' if bad else 'ok':4s} {name:55s} rel err {elem:.2e} element-wise, {normwise:.2e} norm-wise")
    if bad:
        failures.append(f"{name}: relative error {elem:.3e} element-wise, {normwise:.3e} norm-wise > {TOL}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    subprocess.run([exe, work], check=True)
    cfg = json.load(open(os.path.join(work, "init", "config.json")))
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["tie_word_embeddings"] is False
    init = read_safetensors(os.path.join(work, "init", "model.safetensors"))
    batch = read_safetensors(os.path.join(work, "batch.safetensors"))
    step0 = read_safetensors(os.path.join(work, "step0.safetensors"))
    final = read_safetensors(os.path.join(work, "final", "model.safetensors"))
    trace = json.load(open(os.path.join(work, "trace.json")))

    model = Llama(cfg, init)
    tokens, targets, weights = batch["tokens"].long(), batch["targets"], batch["weights"]

    print("step 1: logits, loss, gradients")
    logits = model(tokens)
    loss = weighted_loss(logits, targets, weights)
    loss.backward()
    check("logits", step0["logits"], logits.detach())
    check("weighted loss", step0["loss"], loss.detach())
    for name in init:
        check("grad " + name, step0["grad." + name], model.p(name).grad)

    print("10 AdamW steps with clipping and warmup+cosine")
    a, s = trace["adamw"], trace["schedule"]
    decay = [model.p(n) for n in init if init[n].dim() > 1]
    no_decay = [model.p(n) for n in init if init[n].dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=s["max_lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"])

    def lr_at(step):  # independent statement of the schedule (linear warmup, cosine decay)
        if step < s["warmup_steps"]:
            return s["max_lr"] * (step + 1) / s["warmup_steps"]
        progress = min(1.0, (step - s["warmup_steps"]) / max(1, s["total_steps"] - s["warmup_steps"]))
        return s["min_lr"] + 0.5 * (s["max_lr"] - s["min_lr"]) * (1 + math.cos(math.pi * progress))

    for step in range(trace["steps"]):
        opt.zero_grad()
        loss = weighted_loss(model(tokens), targets, weights)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a["max_grad_norm"])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        opt.step()
        t = trace["trace"][step]
        check(f"step {step + 1} loss", torch.tensor(t["loss"]), loss.detach())
        check(f"step {step + 1} grad norm", torch.tensor(t["grad_norm"]), norm.detach())
        check(f"step {step + 1} lr", torch.tensor(t["lr"]), torch.tensor(lr_at(step)))
        if step == 0 and norm.item() <= a["max_grad_norm"]:
            failures.append("clipping was not exercised: grad norm below max_grad_norm")
    for name in init:
        check("final " + name, final[name], model.p(name).detach(), elementwise=False)

    if failures:
        print("PARITY FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("parity with PyTorch: all checks within", TOL)


if __name__ == "__main__":
    main()
