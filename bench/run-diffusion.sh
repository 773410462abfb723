#!/bin/bash
# run-diffusion.sh: the 2-D DDPM benchmark, ours against PyTorch, in one run.
#
#   bench/run-diffusion.sh                    # 10,000 training steps, 1 and 2 threads, 3 rounds
#   STEPS=2000 THREADS=1 REPEAT=2 bench/run-diffusion.sh
#   INIT=torch bench/run-diffusion.sh         # both sides start from PyTorch's nn.Linear init
#
# Builds bench-diffusion and bench-gemm (release build in $BUILD, default
# <src>/build-bench), writes the training points once so both sides train
# on the same data, then runs REPEAT rounds; round r uses seed r on both
# sides and, for each thread count, runs ours and PyTorch's back to back
# (which goes first alternates from round to round), so both see the same
# machine.  It prints, per side and thread count, the median times
# (training, 10k samples with 1000 DDPM steps, with 50 DDIM steps) and
# the ratios of each side's best thread count, and the sliced Wasserstein
# distance of each run's DDPM samples to one fresh sample of the ring
# (computed by the same C function for both) as mean +- std over the
# seeds (runs at the first thread count).  The load average and the 2-thread/1-thread throughput ratio of a
# large sgemm (about 2: two real cores; about 1: the vCPUs share one) are
# printed before and after: compare only ratios from one run.  Raw lines
# go to $BUILD/bench-diffusion.log.
#
# INIT chooses the initialisation of both networks: "own" (default; each
# side its library's default: He-uniform with zero biases for ours,
# nn.Linear's U(+-1/sqrt(fan_in)) for PyTorch), "torch" or "ours" (both
# sides the same).
set -euo pipefail

THREADS="${THREADS:-1 2}"
REPEAT="${REPEAT:-3}"
. "$(dirname "$0")/diffusion-common.sh"
ninja -C "$BUILD" bench/bench-diffusion bench/bench-gemm >/dev/null
export OMP_WAIT_POLICY=PASSIVE

# OpenBLAS 0.3.21 falls back to its generic "Prescott" kernels on some
# newer CPUs; pick the matching kernel family for both sides (as
# run-nn.sh does) unless the caller chose one.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  case "$flags" in
    *avx512_bf16*) export OPENBLAS_CORETYPE=Cooperlake ;;
    *avx512f*) export OPENBLAS_CORETYPE=SkylakeX ;;
    *avx2*) export OPENBLAS_CORETYPE=Haswell ;;
  esac
fi
ratio() { "$BUILD/bench/bench-gemm" --ratio-only | sed -n 's/^thread_ratio \([0-9.]*\).*/\1/p'; }
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sgemm 2-thread/1-thread throughput ratio before: $(ratio)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LOG="$BUILD/bench-diffusion.log"
: > "$LOG"
"$BUILD/bench/bench-diffusion" --dump-data "$TMP/data.f32"

run_ours() {
  "$BUILD/bench/bench-diffusion" --threads "$1" --steps "$STEPS" --seed "$2" --init "$init_ours" \
    | tee -a "$LOG"
}
run_torch() {
  local line swd
  # torch.set_num_threads does not reach OpenBLAS, which PyTorch's matrix
  # products run on: without this its "1 thread" runs used two.
  line=$(OPENBLAS_NUM_THREADS="$1" $PY "$SRC/bench/bench_diffusion_torch.py" --data "$TMP/data.f32" --threads "$1" \
           --steps "$STEPS" --seed "$2" --init "$init_torch" --samples-out "$TMP/torch.f32")
  swd=$("$BUILD/bench/bench-diffusion" --swd-of "$TMP/torch.f32" | sed -n 's/^swd=//p')
  echo "$line swd_ddpm=$swd" | tee -a "$LOG"
}

for r in $(seq 1 "$REPEAT"); do
  for t in $THREADS; do
    if [ $((r % 2)) -eq 1 ]; then run_ours "$t" "$r"; run_torch "$t" "$r";
    else run_torch "$t" "$r"; run_ours "$t" "$r"; fi
  done
done

echo "# sgemm 2-thread/1-thread throughput ratio after: $(ratio)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, $STEPS steps, $REPEAT rounds, init $INIT"
# Medians per (side, threads, phase); then each side's best thread count.
awk -v threads="$THREADS" '
  function field(k,   i, kv) {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
    return ""
  }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  BEGIN {
    split("train_sec ddpm_sec ddim_sec train_cpu ddpm_cpu ddim_cpu", phase, " ")
    split(threads, th0, " "); first = th0[1]
  }
  {
    side = field("impl"); t = field("threads")
    for (k = 1; k <= 6; k++) {
      ph = phase[k]
      v[side, t, ph] = v[side, t, ph] " " field(ph)
    }
    # One distance per seed: the runs at other thread counts train the
    # same model (up to rounding).
    if (t == first) { s = field("swd_ddpm"); n[side]++; sum[side] += s; sq[side] += s * s }
  }
  END {
    nt = split(threads, th, " ")
    printf "%-10s", "phase"
    for (i = 1; i <= nt; i++) printf " %8s %8s", "ours/" th[i], "torch/" th[i]
    printf " %8s %8s %7s\n", "ours", "torch", "ratio"
    for (k = 1; k <= 6; k++) {
      ph = phase[k]
      if (k == 4) print "# process CPU time (both threads summed at 2): ratio at 1 thread"
      bo = bt = 1e30
      printf "%-10s", ph
      for (i = 1; i <= nt; i++) {
        mo = median(v["ours", th[i], ph]); mt = median(v["torch", th[i], ph])
        printf " %8.3f %8.3f", mo, mt
        if (k > 3 && th[i] != 1) continue
        if (mo < bo) bo = mo
        if (mt < bt) bt = mt
      }
      printf " %8.3f %8.3f %7.3f\n", bo, bt, bo / bt
    }
    for (side in n) {
      m[side] = sum[side] / n[side]
      var = n[side] > 1 ? (sq[side] - n[side] * m[side] ^ 2) / (n[side] - 1) : 0
      sd[side] = var > 0 ? sqrt(var) : 0
    }
    printf "swd_ddpm   ours %.4f +- %.4f, torch %.4f +- %.4f (n = %d, %d), ratio of means %.3f\n",
      m["ours"], sd["ours"], m["torch"], sd["torch"], n["ours"], n["torch"], m["ours"] / m["torch"]
  }' "$LOG"
echo "# times: medians over rounds (seconds); wall-time ratio = ours/torch at each side's best"
echo "# thread count; on a loaded machine the CPU-time ratio at 1 thread is the steadier one"
echo "# goals: train ratio <= 0.4, sampling ratios <= 0.5, swd ratio <= 1.1"
