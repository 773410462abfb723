#!/bin/bash
# run-cluster.sh: k-means (k = 10, Fashion-MNIST 60k x 784), a Gaussian
# mixture (10 full-covariance components on a 50-D PCA) and the nearest
# centroid classifier, ours against scikit-learn, in one run.
#
#   bench/run-cluster.sh            # 2 threads
#   THREADS=1 bench/run-cluster.sh
#
# bench-cluster (release build in $BUILD, default <src>/build-bench) writes
# the data, the k-means start centres, the PCA and the mixture's start
# means to a temporary folder, runs ours, then bench_cluster.py runs
# scikit-learn from the very same starts.  Printed: both lines, the time
# ratios ours / scikit-learn (wall and CPU; the machine is often shared,
# so CPU is the steadier), and the quality gaps.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$SRC/build-bench}"   # a release build: -Dui=false --buildtype=release
THREADS="${THREADS:-2}"
PY=/usr/bin/python3

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Dui=false --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench-cluster >/dev/null

# libgomp's spinning workers waste the second core of this machine.
export OMP_WAIT_POLICY=PASSIVE
export OPENBLAS_NUM_THREADS="$THREADS"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $THREADS thread(s)"
ours=$("$BUILD/bench/bench-cluster" --dir "$TMP" --threads "$THREADS")
sk=$($PY "$SRC/bench/bench_cluster.py" --dir "$TMP" --threads "$THREADS")
echo "$ours"
echo "$sk"
field() { echo "$1" | sed -n "s/.*\<$2=\([^ ]*\).*/\1/p"; }
r() { awk -v a="$(field "$ours" "$1")" -v b="$(field "$sk" "$1")" 'BEGIN { printf "%.3f", a / b }'; }
gap() { awk -v a="$(field "$ours" "$1")" -v b="$(field "$sk" "$1")" 'BEGIN { d = (a - b) / (b < 0 ? -b : b); printf "%+.2e", d }'; }
echo "k-means: time ours/sklearn wall $(r km_sec), cpu $(r km_cpu); inertia relative gap $(gap km_inertia) (goal <= 0.5 at |gap| <= 1e-2)"
echo "GMM:     time ours/sklearn wall $(r gmm_sec), cpu $(r gmm_cpu); log-likelihood relative gap $(gap gmm_ll) (goal <= 0.25 at |gap| <= 1e-2)"
echo "k-means: ours/sklearn Elkan wall $(awk -v a="$(field "$ours" km_sec)" -v b="$(field "$sk" elkan_sec)" 'BEGIN { printf "%.3f", a / b }'), cpu $(awk -v a="$(field "$ours" km_cpu)" -v b="$(field "$sk" elkan_cpu)" 'BEGIN { printf "%.3f", a / b }') (for reference; Elkan $(field "$sk" elkan_iter) iterations)"
echo "nearest centroid accuracy: ours $(field "$ours" nc_acc), sklearn $(field "$sk" nc_acc) (goal: equal)"
