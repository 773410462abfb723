#!/usr/bin/python3
"""bench_tsne.py: scikit-learn's side of the t-SNE benchmark (see bench-tsne.c).

    bench_tsne.py --npy ROWS.npy [--threads N] [--iters 1000] [--seed 0]

ROWS.npy holds the very rows bench-tsne used (bench-tsne --write-npy).  It
runs PCA(50, svd_solver="randomized") and TSNE(init="pca",
learning_rate="auto", perplexity=30, method="barnes_hut") and prints one line
in the format of bench-tsne:

    impl=sklearn threads=2 n=10000 pca_sec=.. tsne_sec=.. pca_cpu=.. tsne_cpu=.. trust=.. kl=..

(*_sec wall seconds, *_cpu CPU seconds of all threads.)

Trustworthiness (k = 10, against the 50-D input) is outside the timings.
Threads are limited with threadpoolctl (OpenMP and BLAS) and TSNE's n_jobs.
"""
import argparse
import os
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npy", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-y", default=None)
    a = ap.parse_args()

    from threadpoolctl import threadpool_limits
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE, trustworthiness

    x = np.load(a.npy).astype(np.float32, copy=False)
    n = x.shape[0]
    with threadpool_limits(limits=a.threads):
        t0, c0 = time.perf_counter(), time.process_time()
        x50 = PCA(n_components=50, svd_solver="randomized", random_state=a.seed).fit_transform(x)
        pca_sec, pca_cpu = time.perf_counter() - t0, time.process_time() - c0

        # scikit-learn 1.2 names the iteration count n_iter; later versions max_iter.
        kw = {"n_iter": a.iters} if "n_iter" in TSNE().get_params() else {"max_iter": a.iters}
        tsne = TSNE(n_components=2, init="pca", learning_rate="auto", perplexity=30.0,
                    method="barnes_hut", angle=0.5, random_state=a.seed, n_jobs=a.threads, **kw)
        t0, c0 = time.perf_counter(), time.process_time()
        y = tsne.fit_transform(x50)
        tsne_sec, tsne_cpu = time.perf_counter() - t0, time.process_time() - c0
        trust = trustworthiness(x50, y, n_neighbors=10)
    if a.write_y:
        y.astype(np.float32).tofile(a.write_y)
    print("impl=sklearn threads=%d n=%d pca_sec=%.3f tsne_sec=%.3f pca_cpu=%.3f tsne_cpu=%.3f "
          "trust=%.4f kl=%.4f version=%s"
          % (a.threads, n, pca_sec, tsne_sec, pca_cpu, tsne_cpu, trust, tsne.kl_divergence_,
             sklearn.__version__))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
