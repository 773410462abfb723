#!/usr/bin/python3
"""The PyTorch side of the 2-D DDPM benchmark (see bench-diffusion.c).

    bench_diffusion_torch.py --data FILE [--threads N] [--steps N] [--seed N]
                             [--init torch|ours] [--samples-out FILE]

Same network (2 + 32 sinusoidal time embedding -> 128 x 3 SiLU -> 2), same
schedule (linear betas 1e-4..0.02, T = 1000), eps prediction, Adam 1e-3,
batch 256, per-sample squared error summed over the two coordinates.
Prints one line in the format of bench-diffusion:

    impl=torch threads=1 seed=1 train_sec=.. ddpm_sec=.. ddim_sec=.. (and *_cpu)

and writes the DDPM samples (raw f32, 10000 x 2) for the shared distance.
--init ours replaces PyTorch's default nn.Linear initialisation with the
engine's (He-uniform, bound sqrt(6 / fan_in) before a SiLU and sqrt(3 /
fan_in) on the output layer, zero biases), to compare training recipes.
Run with OMP_WAIT_POLICY=PASSIVE (the runner does).
"""
import argparse
import math
import time

import numpy as np
import torch
from torch import nn


def time_embed(t, dim=32, max_period=10000.0):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    arg = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", choices=["torch", "ours"], default="torch")
    ap.add_argument("--samples-out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = torch.from_numpy(np.fromfile(a.data, dtype=np.float32).reshape(-1, 2))
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    ab32 = ab.float()
    net = nn.Sequential(nn.Linear(34, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                        nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))
    if a.init == "ours":
        with torch.no_grad():
            linears = [m for m in net if isinstance(m, nn.Linear)]
            for k, m in enumerate(linears):
                gain2 = 2.0 if k + 1 < len(linears) else 1.0
                bound = math.sqrt(3.0 * gain2 / m.in_features)
                m.weight.uniform_(-bound, bound)
                m.bias.zero_()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    B = 256
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        idx = torch.randint(0, len(data), (B,))
        x0 = data[idx]
        t = torch.randint(0, T, (B,))
        eps = torch.randn(B, 2)
        a_ = ab32[t][:, None]
        xt = a_.sqrt() * x0 + (1 - a_).sqrt() * eps
        out = net(torch.cat([xt, time_embed(t.float())], dim=1))
        loss = ((out - eps) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    train_sec, train_cpu = time.perf_counter() - t0, time.process_time() - c0

    n = 10000
    noise = torch.randn(n, 2)

    @torch.no_grad()
    def sample(ts, eta):
        x = noise.clone()
        for k, t in enumerate(ts):
            a_t = ab[t].item()
            a_s = ab[ts[k + 1]].item() if k + 1 < len(ts) else 1.0
            emb = time_embed(torch.full((1,), float(t))).expand(n, -1)
            eps = net(torch.cat([x, emb], dim=1))
            x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
            sig = 0.0
            if eta > 0 and a_s < 1.0:
                sig = eta * math.sqrt((1 - a_s) / (1 - a_t)) * math.sqrt(1 - a_t / a_s)
            x = math.sqrt(a_s) * x0 + math.sqrt(max(0.0, 1 - a_s - sig * sig)) * eps
            if sig > 0:
                x = x + sig * torch.randn_like(x)
        return x

    t0, c0 = time.perf_counter(), time.process_time()
    xs = sample(list(range(T - 1, -1, -1)), 1.0)
    ddpm_sec, ddpm_cpu = time.perf_counter() - t0, time.process_time() - c0
    ts = [round((49 - i) / 49 * (T - 1)) for i in range(50)]
    t0, c0 = time.perf_counter(), time.process_time()
    sample(ts, 0.0)
    ddim_sec, ddim_cpu = time.perf_counter() - t0, time.process_time() - c0
    if a.samples_out:
        xs.numpy().astype(np.float32).tofile(a.samples_out)
    print(f"impl=torch threads={a.threads} seed={a.seed} init={a.init} train_sec={train_sec:.3f} "
          f"ddpm_sec={ddpm_sec:.3f} ddim_sec={ddim_sec:.3f} loss={loss.item():.4f} "
          f"train_cpu={train_cpu:.3f} ddpm_cpu={ddpm_cpu:.3f} ddim_cpu={ddim_cpu:.3f}", flush=True)


if __name__ == "__main__":
    main()
