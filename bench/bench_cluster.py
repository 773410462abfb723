#!/usr/bin/python3
"""bench_cluster.py: scikit-learn's KMeans, GaussianMixture and NearestCentroid
on the files bench-cluster writes (the same data and the same starts).

   bench_cluster.py --dir DIR [--threads 1]

One line: impl=sklearn threads=.. km_sec=.. km_cpu=.. km_iter=.. km_inertia=..
gmm_sec=.. gmm_cpu=.. gmm_iter=.. gmm_ll=.. nc_acc=.. elkan_sec=.. elkan_cpu=.. elkan_iter=..
elkan_inertia=..  (*_cpu: CPU seconds of the process)

KMeans runs Lloyd's algorithm (the one ours reproduces); Elkan's variant from
the same start is timed too, for reference, since ours skips distances with
bounds as Elkan's does.  GaussianMixture gets init_params="random_from_data":
its weights, means and precisions are all given, and the default "kmeans"
would spend a k-means fit on a start it then throws away.
"""
import argparse
import os
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import numpy as np
    from threadpoolctl import threadpool_limits
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import NearestCentroid

    d = a.dir
    x = np.load(os.path.join(d, "train.npy"))
    y = np.load(os.path.join(d, "train_y.npy")).ravel().astype(np.int64)
    xt = np.load(os.path.join(d, "test.npy"))
    yt = np.load(os.path.join(d, "test_y.npy")).ravel().astype(np.int64)
    c0 = np.load(os.path.join(d, "km_init.npy"))
    z = np.load(os.path.join(d, "pca50.npy"))
    gm = np.load(os.path.join(d, "gmm_means.npy")).astype(np.float64)
    with threadpool_limits(a.threads):
        t0, cpu0 = time.perf_counter(), time.process_time()
        km = KMeans(n_clusters=10, init=c0, n_init=1, max_iter=300, tol=1e-4,
                    algorithm="lloyd").fit(x)
        km_sec, km_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        cov = np.cov(z.astype(np.float64), rowvar=False, ddof=0) + 1e-6 * np.eye(z.shape[1])
        prec = np.linalg.inv(cov)
        t0, cpu0 = time.perf_counter(), time.process_time()
        g = GaussianMixture(n_components=10, covariance_type="full", tol=1e-3,
                            reg_covar=1e-6, max_iter=100, init_params="random_from_data",
                            weights_init=np.full(10, 0.1),
                            means_init=gm, precisions_init=np.stack([prec] * 10)).fit(z)
        gmm_sec, gmm_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        nc = NearestCentroid().fit(x, y)
        nc_acc = float((nc.predict(xt) == yt).mean())
        t0, cpu0 = time.perf_counter(), time.process_time()
        ke = KMeans(n_clusters=10, init=c0, n_init=1, max_iter=300, tol=1e-4,
                    algorithm="elkan").fit(x)
        el_sec, el_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print("impl=sklearn threads=%d km_sec=%.3f km_cpu=%.3f km_iter=%d km_inertia=%.6e "
          "gmm_sec=%.3f gmm_cpu=%.3f gmm_iter=%d gmm_ll=%.6f nc_acc=%.4f elkan_sec=%.3f "
          "elkan_cpu=%.3f elkan_iter=%d elkan_inertia=%.6e"
          % (a.threads, km_sec, km_cpu, km.n_iter_, km.inertia_, gmm_sec, gmm_cpu, g.n_iter_,
             g.lower_bound_, nc_acc, el_sec, el_cpu, ke.n_iter_, ke.inertia_))


if __name__ == "__main__":
    main()
