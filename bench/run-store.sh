#!/usr/bin/env bash
# run-store.sh [BUILD_DIR] [-- OPTIONS]: the run store benchmark, C against
# Python's sqlite3, in one run on the same machine and the same schema.
# OPTIONS (e.g. --rows 200000) go to both sides.  Prints both results and
# the ratios; the goal is >= 1.5x Python's rates and 1,000,000 metric rows
# in under 2 s.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-$here/../build}
shift || true
[ "${1:-}" = "--" ] && shift
bench="$build/bench/bench-store"
if [ ! -x "$bench" ]; then
  echo "run-store.sh: $bench is missing; build it with: ninja -C $build bench/bench-store" >&2
  exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ps-run-store-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "== C (protoscope run store)"
"$bench" --keep "$tmp/schema.sqlite" "$@" | tee "$tmp/c.txt"
echo "== Python sqlite3 (executemany, one transaction, WAL)"
/usr/bin/python3 "$here/bench_store.py" --schema-from "$tmp/schema.sqlite" "$@" | tee "$tmp/py.txt"

val () { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
echo "== Result"
awk -v c="$(val "$tmp/c.txt" metric_rows_per_s)" -v p="$(val "$tmp/py.txt" metric_rows_per_s)" \
    -v cs="$(val "$tmp/c.txt" metric_seconds)" -v n="$(val "$tmp/c.txt" metric_rows)" \
    -v ca="$(val "$tmp/c.txt" artifact_mb_per_s)" -v pa="$(val "$tmp/py.txt" artifact_mb_per_s)" \
    -v cc="$(val "$tmp/c.txt" metric_cpu_seconds)" -v pc="$(val "$tmp/py.txt" metric_cpu_seconds)" \
    -v cpus="$(nproc)" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
  printf "metric ingest: C %.0f rows/s, Python %.0f rows/s, ratio %.2fx (goal >= 1.5x)\n", c, p, c / p
  printf "%d rows in %.3f s (goal < 2 s for 1,000,000)\n", n, cs
  printf "CPU seconds for the metric rows: C %.3f, Python %.3f, ratio %.2fx\n", cc, pc, pc / cc
  printf "artifact writes: C %.1f MB/s, Python %.1f MB/s, ratio %.2fx\n", ca, pa, ca / pa
  printf "machine: %d cores, load average %s at the end\n", cpus, load
}'
