#!/usr/bin/python3
"""The PyTorch side of the neural-network benchmark (see bench-nn.c).

    bench_nn_torch.py --net mlp|cnn [--epochs N] [--threads N] [--batch N] [--seed S]

Trains the same networks the same way (Adam 1e-3, batch 128, inputs scaled
to [0, 1], a fresh random permutation each epoch) and prints one line per
epoch in the format of bench-nn:

    net=mlp impl=torch threads=1 epoch=1 sec=1.234 loss=0.5123 test_acc=0.8421

Only the training pass is timed.  Run it with OMP_WAIT_POLICY=PASSIVE (the
runner does): libgomp's spinning workers are very costly on this machine.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(os.path.join(folder, stem))


def load(folder):
    def pair(prefix):
        x = read_idx(find(folder, prefix + "-images-idx3-ubyte"))
        y = read_idx(find(folder, prefix + "-labels-idx1-ubyte"))
        x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
        return x, torch.from_numpy(y.astype(np.int64))
    return pair("train"), pair("t10k")


def build(net):
    if net == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if net == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 64), nn.ReLU(), nn.Linear(64, 10))
    raise ValueError(net)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    folder = os.environ.get("PROTOSCOPE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    (xtr, ytr), (xte, yte) = load(folder)

    model = build(args.net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(xtr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum, batches = 0.0, 0
        for s in range(0, n, args.batch):
            idx = perm[s:s + args.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            batches += 1
        sec = time.perf_counter() - t0
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(xte), 1000):
                pred = model(xte[s:s + 1000]).argmax(1)
                correct += (pred == yte[s:s + 1000]).sum().item()
        print(f"net={args.net} impl=torch threads={args.threads} epoch={epoch} sec={sec:.3f} "
              f"loss={loss_sum / batches:.4f} test_acc={correct / len(xte):.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
