#!/bin/bash
# run-nn.sh: the neural-network benchmark, ours against PyTorch, in one run.
#
#   bench/run-nn.sh                 # 1 epoch of each network
#   EPOCHS=2 NETS="mlp" REPEAT=2 bench/run-nn.sh
#
# Builds bench-nn and bench-gemm (release build in $BUILD, default
# <src>/build-bench) when needed, then for each network runs ours and
# PyTorch's interleaved, with 1 and 2 threads each, and reports the faster
# thread count of each side: seconds per epoch (mean over the epochs), the
# final test accuracy, and the ratio ours/PyTorch.  The two vCPUs of this
# machine are sometimes time-sliced on one core, so the 2-thread/1-thread
# throughput ratio of a large sgemm is measured before and after and printed
# beside the results (about 2 = two real cores, about 1 = shared).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$SRC/build-bench}"
EPOCHS="${EPOCHS:-1}"
NETS="${NETS:-mlp cnn}"
THREADS="${THREADS:-1 2}"
REPEAT="${REPEAT:-1}"   # rounds of the interleaved runs; the best of each side counts
PY=/usr/bin/python3

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Dui=false --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench-nn bench/bench-gemm >/dev/null

# libgomp's spinning workers cost PyTorch 5-40x here (see MACHINE.md).
export OMP_WAIT_POLICY=PASSIVE

# OpenBLAS 0.3.21 does not know some newer CPUs and falls back to its
# generic "Prescott" kernels (3-5x slower sgemm).  Both sides use the same
# OpenBLAS, so pick the matching kernel family for both, unless the caller
# chose one already.
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
else
  echo "# OpenBLAS core forced by the caller: $OPENBLAS_CORETYPE"
fi

ratio() { "$BUILD/bench/bench-gemm" --ratio-only | sed -n 's/^thread_ratio \([0-9.]*\).*/\1/p'; }

LOG="$BUILD/bench-nn.log"
: > "$LOG"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, $EPOCHS epoch(s); raw log in $LOG"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
r_before=$(ratio)
echo "# sgemm 2-thread/1-thread throughput ratio before: $r_before"

# mean seconds per epoch and the last accuracy from lines of one run
summarise() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                     s += v["sec"]; n++; acc = v["test_acc"] }
                   END { if (n) printf "%.3f %.4f\n", s / n, acc; else print "nan nan" }'; }

printf '%-4s %8s %3s %8s %8s %3s %8s %7s\n' net ours thr acc torch thr acc ratio
for net in $NETS; do
  best_ours="" best_torch=""
  for t in $(for r in $(seq "$REPEAT"); do echo $THREADS; done); do
    ours=$("$BUILD/bench/bench-nn" --net "$net" --epochs "$EPOCHS" --threads "$t" | tee -a "$LOG" | summarise)
    # torch.set_num_threads does not reach the OpenBLAS under PyTorch's
    # matrix products; its own variable does (as in run-diffusion.sh).
    torch=$(OPENBLAS_NUM_THREADS="$t" $PY "$SRC/bench/bench_nn_torch.py" --net "$net" --epochs "$EPOCHS" --threads "$t" | tee -a "$LOG" | summarise)
    if [ -z "$best_ours" ] || awk -v a="${ours%% *}" -v b="${best_ours%% *}" 'BEGIN { exit !(a < b) }'; then
      best_ours="$ours"; ours_t=$t
    fi
    if [ -z "$best_torch" ] || awk -v a="${torch%% *}" -v b="${best_torch%% *}" 'BEGIN { exit !(a < b) }'; then
      best_torch="$torch"; torch_t=$t
    fi
  done
  read -r os oa <<< "$best_ours"
  read -r ts ta <<< "$best_torch"
  printf '%-4s %8.3f %3d %8.4f %8.3f %3d %8.4f %7.3f\n' "$net" "$os" "$ours_t" "$oa" "$ts" "$torch_t" "$ta" \
    "$(awk -v a="$os" -v b="$ts" 'BEGIN { print a / b }')"
done
r_after=$(ratio)
echo "# sgemm 2-thread/1-thread throughput ratio after: $r_after"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# goals: mlp ratio <= 0.6, cnn ratio <= 0.7, accuracy within 0.01"
