#!/usr/bin/env python3
"""bench_store.py: the Python sqlite3 baseline for bench-store.c.

The same inserts as the C benchmark, on the same schema and page size (read
from a store that bench-store left with --keep, so the two sides cannot
drift apart):
N metric rows (four series) with executemany in one transaction, then
snapshots of float32 arrays as blobs, one transaction per snapshot.  WAL
mode and synchronous=NORMAL, as the application uses.  Building the rows is
not timed.  Output: one "key value" line per number.
"""
import argparse
import os
import sqlite3
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema-from", required=True, help="a store written by bench-store --keep")
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--snapshots", type=int, default=16)
    ap.add_argument("--arrays", type=int, default=4)
    ap.add_argument("--array-mb", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    src = sqlite3.connect(a.schema_from)
    ddl = [r[0] for r in src.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")]
    # The same file format too: the page and cache sizes the store uses.
    page_size = src.execute("PRAGMA page_size").fetchone()[0]
    src.close()

    names = ["loss", "train_acc", "lr", "grad_norm"]
    rows = [(1, i // 4, names[i % 4], 1.0 / (1.0 + i), i * 1e-4) for i in range(a.rows)]
    floats = a.array_mb * 1024 * 1024 // 4
    arrays = []
    for k in range(a.arrays):
        x = (np.arange(floats) % 1000).astype(np.float32) * np.float32(0.001) + np.float32(k)
        arrays.append(x.tobytes())
    total_mb = a.snapshots * a.arrays * a.array_mb

    best_rows, best_rows_s, best_rows_cpu, best_mb = 0.0, 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="ps-bench-store-py-") as d:
        for _ in range(a.repeats):
            path = os.path.join(d, "bench.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA page_size = %d" % page_size)
            db.execute("PRAGMA cache_size = -16384")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("BEGIN")
            for s in ddl:
                db.execute(s)
            db.execute("COMMIT")
            db.execute("INSERT INTO runs (uuid, name, method, dataset, params, seed, status, created,"
                       " version) VALUES ('u', 'bench', 'mlp', 'moons', '{}', 0, 'queued', 0, 'py')")

            t0, c0 = time.perf_counter(), time.process_time()
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO metrics (run, step, name, value, wall) VALUES (?, ?, ?, ?, ?)",
                           rows)
            db.execute("COMMIT")
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if a.rows / dt > best_rows:
                best_rows, best_rows_s, best_rows_cpu = a.rows / dt, dt, dc

            shape = "[%d, 2]" % (floats // 2)
            t0 = time.perf_counter()
            for s in range(a.snapshots):
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO artifacts (run, step, kind, dtype, shape, data)"
                               " VALUES (1, ?, 'embedding', 'f32', ?, ?)",
                               [(s, shape, b) for b in arrays])
                db.execute("COMMIT")
            dt = time.perf_counter() - t0
            best_mb = max(best_mb, total_mb / dt)
            db.close()

    print("sqlite %s" % sqlite3.sqlite_version)
    print("metric_rows %d" % a.rows)
    print("metric_seconds %.3f" % best_rows_s)
    print("metric_rows_per_s %.0f" % best_rows)
    print("metric_cpu_seconds %.3f" % best_rows_cpu)
    print("artifact_mb %d" % total_mb)
    print("artifact_mb_per_s %.1f" % best_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
