#!/bin/bash
# run-tsne.sh: t-SNE of 10k Fashion-MNIST images, ours against scikit-learn,
# in one run.
#
#   bench/run-tsne.sh                      # n = 10000, 1000 iterations, 1 and 2 threads
#   N=5000 ITERS=500 THREADS="2" bench/run-tsne.sh
#
# Builds bench-tsne (release build in $BUILD, default <src>/build-bench) when
# needed.  bench-tsne writes the first N training images to a .npy, so both
# sides embed the very same rows.  Each side: PCA to 50 dimensions (timed),
# t-SNE with perplexity 30, PCA initialisation, learning rate "auto",
# Barnes-Hut theta 0.5, 1000 iterations (timed: everything after the PCA),
# then trustworthiness T(10) of the layout against the 50-D input (untimed).
# For each thread count ours and scikit-learn's run interleaved; the faster
# thread count of each side is reported, with wall seconds, CPU seconds
# (all threads) and the ratios ours / scikit-learn.  The machine is often
# shared, so the CPU-second ratio is the steadier of the two.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$SRC/build-bench}"
N="${N:-10000}"
ITERS="${ITERS:-1000}"
THREADS="${THREADS:-1 2}"
PY=/usr/bin/python3

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Dui=false --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench-tsne bench/bench-gemm >/dev/null

# libgomp's spinning workers waste the second core of this machine.
export OMP_WAIT_POLICY=PASSIVE

# OpenBLAS 0.3.21 may not know this CPU and fall back to generic kernels;
# both sides use the same OpenBLAS, so pick the matching family for both.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$(OPENBLAS_VERBOSE=2 "$BUILD/bench/bench-gemm" --probe 2>&1 | sed -n 's/^Core: //p' | head -1)
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [ "$core" = "Prescott" ]; then
    case "$flags" in
      *avx512_bf16*) export OPENBLAS_CORETYPE=Cooperlake ;;
      *avx512f*) export OPENBLAS_CORETYPE=SkylakeX ;;
      *avx2*) export OPENBLAS_CORETYPE=Haswell ;;
    esac
  fi
  echo "# OpenBLAS detected core: ${core:-?}; using ${OPENBLAS_CORETYPE:-its choice}"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
LOG="$BUILD/bench-tsne.log"
: > "$LOG"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, load $(cut -d' ' -f1-3 /proc/loadavg), n=$N, $ITERS iterations; raw log in $LOG"

field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p"; }
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

best_ours="" best_sk="" pca_ours="" pca_sk=""
npy="$TMP/rows.npy"
for t in $THREADS; do
  extra=()
  [ -f "$npy" ] || extra=(--write-npy "$npy")
  ours=$("$BUILD/bench/bench-tsne" --n "$N" --iters "$ITERS" --threads "$t" "${extra[@]}" | tee -a "$LOG")
  sk=$($PY "$SRC/bench/bench_tsne.py" --npy "$npy" --iters "$ITERS" --threads "$t" | tee -a "$LOG")
  if [ -z "$best_ours" ] || faster "$(echo "$ours" | field tsne_sec)" "$(echo "$best_ours" | field tsne_sec)"; then
    best_ours="$ours"
  fi
  if [ -z "$best_sk" ] || faster "$(echo "$sk" | field tsne_sec)" "$(echo "$best_sk" | field tsne_sec)"; then
    best_sk="$sk"
  fi
  # PCA's best thread count need not be t-SNE's.
  if [ -z "$pca_ours" ] || faster "$(echo "$ours" | field pca_sec)" "$(echo "$pca_ours" | field pca_sec)"; then
    pca_ours="$ours"
  fi
  if [ -z "$pca_sk" ] || faster "$(echo "$sk" | field pca_sec)" "$(echo "$pca_sk" | field pca_sec)"; then
    pca_sk="$sk"
  fi
done

row() { printf '%-8s %3s %8s %8s %8s %8s %7s\n' "$(echo "$1" | field impl)" "$(echo "$1" | field threads)" \
    "$(echo "$1" | field pca_sec)" "$(echo "$1" | field pca_cpu)" \
    "$(echo "$1" | field tsne_sec)" "$(echo "$1" | field tsne_cpu)" "$(echo "$1" | field trust)"; }
printf '%-8s %3s %8s %8s %8s %8s %7s\n' impl thr pca_s pca_cpu tsne_s tsne_cpu trust
while read -r line; do row "$line"; done < "$LOG"
ratio() { awk -v a="$(echo "$1" | field "$3")" -v b="$(echo "$2" | field "$3")" 'BEGIN { printf "%.3f", a / b }'; }
echo "best t-SNE: ours $(echo "$best_ours" | field threads) thread(s), sklearn $(echo "$best_sk" | field threads);" \
  "best PCA: ours $(echo "$pca_ours" | field threads), sklearn $(echo "$pca_sk" | field threads)"
echo "ratio ours/sklearn: tsne wall $(ratio "$best_ours" "$best_sk" tsne_sec), tsne cpu $(ratio "$best_ours" "$best_sk" tsne_cpu)," \
  "pca wall $(ratio "$pca_ours" "$pca_sk" pca_sec), pca cpu $(ratio "$pca_ours" "$pca_sk" pca_cpu)"
echo "trustworthiness T(10): ours $(echo "$best_ours" | field trust), sklearn $(echo "$best_sk" | field trust)"
echo "goals: tsne <= 0.3 at trustworthiness >= sklearn's; pca <= 1"
