#!/usr/bin/python3
"""PyTorch parity check for the C++ causal 3D-CNN encoder/decoder (tokenizer/conv_net.h).

Builds the same network in plain PyTorch (F.conv3d on causally padded input, per-frame
F.group_norm, SiLU, nearest F.interpolate dropping the first frame after temporal upsampling,
per-frame F.pixel_unshuffle / F.pixel_shuffle around it when patch > 1)
from the safetensors file the C++ side wrote, feeds the same clip, computes
loss = sum(latents * r_latent) + sum(decoder(latents) * r_pixels), and checks the latents, the
reconstruction, d(loss)/d(clip) and every parameter gradient: max |ours - torch| / max |torch|
per tensor must be within 1e-4. The reference runs in float64 (so it measures our float32 error
alone); the float32 PyTorch error against the same reference is printed for comparison.

Runs three times: the default network (patch 1, three levels, 3D convolutions everywhere), a patch-2
network (two levels, temporal kernel 1 outside the resampling convolutions), and the same with the
encoder's per-position norms (encoder_norm = "position": F.layer_norm over the channels).

usage: conv_parity.py DUMP_EXE WORKDIR
"""
import json
import math
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from safetensors_io import read_safetensors  # noqa: E402

torch.set_num_threads(2)
TOL = 1e-4
class Net:
    """Encoder and decoder as functions of a dict of leaf tensors named as the C++ store."""

    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params

    def conv(self, x, name, stride=(1, 1, 1)):
        w, b = self.p[name + ".weight"], self.p[name + ".bias"]
        kt, kh, kw = w.shape[2:]
        # causal in time: kt-1 zero frames before the clip, none after; "same" zeros in space
        x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0))
        return F.conv3d(x, w, b, stride=stride)

    def norm(self, x, name):
        n, c, t, h, w = x.shape
        if name.startswith("encoder.") and self.cfg.get("encoder_norm") == "position":
            # LayerNorm over the channels at each (frame, y, x)
            y = F.layer_norm(x.movedim(1, -1), (c,), self.p[name + ".weight"], self.p[name + ".bias"],
                             self.cfg["groupnorm_eps"])
            return y.movedim(-1, 1)
        y = x.transpose(1, 2).reshape(n * t, c, h, w)  # each frame normalised on its own
        y = F.group_norm(y, self.cfg["groups"], self.p[name + ".weight"], self.p[name + ".bias"],
                         self.cfg["groupnorm_eps"])
        return y.reshape(n, t, c, h, w).transpose(1, 2)

    def resblock(self, x, name):
        h = self.conv(F.silu(self.norm(x, name + ".norm1")), name + ".conv1")
        h = self.conv(F.silu(self.norm(h, name + ".norm2")), name + ".conv2")
        skip = self.conv(x, name + ".nin_shortcut") if name + ".nin_shortcut.weight" in self.p else x
        return h + skip

    @staticmethod
    def per_frame(x, f):
        n, c, t, h, w = x.shape
        y = f(x.transpose(1, 2).reshape(n * t, c, h, w))
        return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)

    def encode(self, x):
        cfg = self.cfg
        p = cfg.get("patch", 1)
        if p > 1:
            x = self.per_frame(x, lambda y: F.pixel_unshuffle(y, p))
        x = self.conv(x, "encoder.conv_in")
        for i, td in enumerate(cfg["temporal_down"]):
            for j in range(cfg["res_blocks"]):
                x = self.resblock(x, f"encoder.down.{i}.block.{j}")
            if cfg.get("encoder_field") == "cell":
                # non-overlapping 2x2 downsampling: space-to-depth, then a 1x1 (temporal 3) conv
                x = self.per_frame(x, lambda y: F.pixel_unshuffle(y, 2))
                x = self.conv(x, f"encoder.down.{i}.downsample", stride=(2 if td else 1, 1, 1))
            else:
                x = self.conv(x, f"encoder.down.{i}.downsample", stride=(2 if td else 1, 2, 2))
        for m in range(cfg.get("mid_blocks", 1)):
            x = self.resblock(x, "encoder.mid.block" + (f".{m}" if m else ""))
        return self.conv(F.silu(self.norm(x, "encoder.norm_out")), "encoder.conv_out")

    def decode(self, z):
        cfg = self.cfg
        x = self.conv(z, "decoder.conv_in")
        for m in range(cfg.get("mid_blocks", 1)):
            x = self.resblock(x, "decoder.mid.block" + (f".{m}" if m else ""))
        for i in reversed(range(len(cfg["channels"]))):
            for j in range(cfg["res_blocks"]):
                x = self.resblock(x, f"decoder.up.{i}.block.{j}")
            td = cfg["temporal_down"][i]
            x = F.interpolate(x, scale_factor=(2 if td else 1, 2, 2), mode="nearest")
            if td:
                x = x[:, :, 1:]  # 1 + k frames -> 1 + 2k: frame 0 stays alone
            x = self.conv(x, f"decoder.up.{i}.upsample.conv")
        x = self.conv(F.silu(self.norm(x, "decoder.norm_out")), "decoder.conv_out")
        p = cfg.get("patch", 1)
        return self.per_frame(x, lambda y: F.pixel_shuffle(y, p)) if p > 1 else x


def run(cfg, init, data, dtype):
    params = {k: v.to(dtype).requires_grad_(True) for k, v in init.items()}
    clip = data["clip"].to(dtype).requires_grad_(True)
    net = Net(cfg, params)
    latents = net.encode(clip)
    recon = net.decode(latents)
    loss = (latents * data["r_latent"].to(dtype)).sum() + (recon * data["r_pixels"].to(dtype)).sum()
    loss.backward()
    out = {"latents": latents.detach(), "recon": recon.detach(), "d_clip": clip.grad}
    out.update({"grad." + k: v.grad for k, v in params.items()})
    return out


def main():
    exe, root = sys.argv[1], sys.argv[2]
    failed = False
    for patch in ("1", "2", "2p", "2c"):
        work = os.path.join(root, "patch" + patch)
        os.makedirs(work, exist_ok=True)
        subprocess.run([exe, work, patch], check=True)
        print(f"patch {patch}:")
        failed = not check(work) or failed
    sys.exit(1 if failed else 0)


def check(work):
    cfg = json.load(open(os.path.join(work, "config.json")))
    init = read_safetensors(os.path.join(work, "init.safetensors"))
    data = read_safetensors(os.path.join(work, "data.safetensors"))

    ref = run(cfg, init, data, torch.float64)
    t32 = run(cfg, init, data, torch.float32)
    failures = []
    names = ["latents", "recon", "d_clip"] + ["grad." + k for k in init]
    missing = [n for n in names if n not in data]
    if missing:
        failures.append("not dumped by the C++ side: " + ", ".join(missing))
    worst = 0.0
    for name in names:
        if name not in data:
            continue
        ours, want = data[name].double(), ref[name].double()
        if ours.shape != want.shape:
            failures.append(f"{name}: shape {tuple(ours.shape)} vs torch {tuple(want.shape)}")
            continue
        scale = want.abs().max().item() or 1.0
        err = (ours - want).abs().max().item() / scale
        err32 = (t32[name].double() - want).abs().max().item() / scale
        bad = not (err <= TOL) or not math.isfinite(err)
        worst = max(worst, err)
        print(f"  {'FAIL' if bad else 'ok':4s} {name:52s} ours {err:.2e}   torch fp32 {err32:.2e}   (max |ref| {scale:.3g})")
        if bad:
            failures.append(f"{name}: relative error {err:.3e} > {TOL}")
    if failures:
        print("PARITY FAILED:\n  " + "\n  ".join(failures))
        return False
    print(f"parity with PyTorch: {len(names)} tensors within {TOL} (worst {worst:.2e})")
    return True


if __name__ == "__main__":
    main()
