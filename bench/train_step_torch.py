#!/usr/bin/python3
"""One training step (forward, backward, AdamW) of the same Llama in eager PyTorch, for
bench/run train_step. Prints one JSON line: {"tokens_per_s", "step_s", "peak_rss_mib", "torch"}.

usage: train_step_torch.py CONFIG_JSON BATCH SEQ STEPS THREADS
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from llama_torch import Llama, init_weights, weighted_loss  # noqa: E402


def main():
    cfg = json.loads(sys.argv[1])
    batch, seq, steps, threads = (int(a) for a in sys.argv[2:6])
    torch.set_num_threads(threads)
    model = Llama(cfg, init_weights(cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, cfg["vocab_size"], (batch, seq), generator=g)
    targets = torch.randint(0, cfg["vocab_size"], (batch, seq), generator=g, dtype=torch.int32)
    weights = torch.ones(batch, seq)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = weighted_loss(model(tokens), targets, weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up: allocator and optimizer state
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"tokens_per_s": batch * seq / dt, "step_s": dt, "peak_rss_mib": rss,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
