#!/usr/bin/python3
"""PyTorch parity check for the C++ Llama (llm.c style).

Builds LlamaForCausalLM's computation in plain PyTorch (pre-norm RMSNorm, rotate-half RoPE,
grouped-query causal attention, SwiGLU, untied lm_head) from the safetensors file the C++ side
wrote, feeds the same tokens and per-token weights, and checks logits, weighted loss, every
parameter gradient, and the weights after 10 AdamW steps with gradient clipping, each within
1e-4 relative (max |ours - torch| / max |torch| per tensor, fp32).

usage: llama_parity.py DUMP_EXE WORKDIR
"""
import json
import math
import os
import struct
import subprocess
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)
TOL = 1e-4

DTYPES = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    """Independent reader (the format is simple; no dependency on the C++ reader)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=DTYPES[info["dtype"]]) if e > b else torch.zeros(0)
        out[name] = t.reshape(info["shape"]).clone()
    return out


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.params = torch.nn.ParameterDict()
        for name, t in weights.items():
            self.params[name.replace(".", "__")] = torch.nn.Parameter(t.clone())

    def p(self, name):
        return self.params[name.replace(".", "__")]

    def forward(self, tokens):
        cfg = self.cfg
        B, T = tokens.shape
        C = cfg["hidden_size"]
        H = cfg["num_attention_heads"]
        KV = cfg["num_key_value_heads"]
        D = C // H
        eps = cfg["rms_norm_eps"]

        def rmsnorm(x, w):
            return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

        inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
        freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]

        def rotate_half(x):
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return torch.cat((-x2, x1), dim=-1)

        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.p("model.embed_tokens.weight")[tokens]
        for l in range(cfg["num_hidden_layers"]):
            pre = f"model.layers.{l}."
            h = rmsnorm(x, self.p(pre + "input_layernorm.weight"))
            q = (h @ self.p(pre + "self_attn.q_proj.weight").T).view(B, T, H, D).transpose(1, 2)
            k = (h @ self.p(pre + "self_attn.k_proj.weight").T).view(B, T, KV, D).transpose(1, 2)
            v = (h @ self.p(pre + "self_attn.v_proj.weight").T).view(B, T, KV, D).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(H // KV, dim=1)  # HF repeat_kv: kv head j serves heads j*rep..
            v = v.repeat_interleave(H // KV, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(D) + mask
            att = torch.softmax(att, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + o @ self.p(pre + "self_attn.o_proj.weight").T
            h = rmsnorm(x, self.p(pre + "post_attention_layernorm.weight"))
            gate = h @ self.p(pre + "mlp.gate_proj.weight").T
            up = h @ self.p(pre + "mlp.up_proj.weight").T
            x = x + (F.silu(gate) * up) @ self.p(pre + "mlp.down_proj.weight").T
        x = rmsnorm(x, self.p("model.norm.weight"))
        return x @ self.p("lm_head.weight").T


def weighted_loss(logits, targets, weights):
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), reduction="none")
    w = weights.reshape(-1)
    return (w * ce).sum() / w.sum()


failures = []


def check(name, ours, ref):
    ours, ref = ours.float(), ref.float()
    if ours.shape != ref.shape:
        failures.append(f"{name}: shape {tuple(ours.shape)} vs torch {tuple(ref.shape)}")
        return
    scale = ref.abs().max().item()
    err = (ours - ref).abs().max().item() / (scale if scale > 0 else 1.0)
    status = "ok" if err <= TOL else "FAIL"
    print(f"  {status:4s} {name:55s} rel err {err:.2e}")
    if err > TOL or not math.isfinite(err):
        failures.append(f"{name}: relative error {err:.3e} > {TOL}")


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
        check("final " + name, final[name], model.p(name).detach())

    if failures:
        print("PARITY FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("parity with PyTorch: all checks within", TOL)


if __name__ == "__main__":
    main()
