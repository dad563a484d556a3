"""Llama (LlamaForCausalLM's computation) in plain PyTorch, built from our safetensors weights.

Shared by the parity test (tests/model/llama_parity.py) and the train_step benchmark. Written from
the Hugging Face modeling equations: pre-norm RMSNorm, rotate-half RoPE, grouped-query causal
attention (repeat_kv), SwiGLU MLP, untied lm_head; no biases.
"""
import math

import torch
import torch.nn.functional as F

from safetensors_io import read_safetensors  # noqa: F401 (re-exported for the tests)

def init_weights(cfg, std=0.02, seed=0):
    """Random weights with our tensor names (for benchmarks that need no C++ file)."""
    g = torch.Generator().manual_seed(seed)
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = C // H
    shapes = {"model.embed_tokens.weight": (V, C), "model.norm.weight": (C,), "lm_head.weight": (V, C)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        shapes.update({p + "input_layernorm.weight": (C,), p + "self_attn.q_proj.weight": (H * D, C),
                       p + "self_attn.k_proj.weight": (KV * D, C), p + "self_attn.v_proj.weight": (KV * D, C),
                       p + "self_attn.o_proj.weight": (C, H * D), p + "post_attention_layernorm.weight": (C,),
                       p + "mlp.gate_proj.weight": (I, C), p + "mlp.up_proj.weight": (I, C),
                       p + "mlp.down_proj.weight": (C, I)})
    return {n: (torch.ones(s) if len(s) == 1 else torch.randn(s, generator=g) * std) for n, s in shapes.items()}


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
    """sum_n w_n * CE_n / sum_n w_n, the loss the C++ model reports."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(), reduction="none")
    w = weights.reshape(-1)
    return (w * ce).sum() / w.sum()
