#!/bin/bash
# run-diffusion.sh: the 2-D DDPM benchmark, ours against PyTorch, in one run.
#
#   bench/run-diffusion.sh              # 10,000 training steps, 1 and 2 threads
#   STEPS=2000 THREADS=1 bench/run-diffusion.sh
#
# Builds bench-diffusion (release build in $BUILD, default <src>/build-bench),
# writes the training points once so both sides train on the same data, runs
# ours and PyTorch's for each thread count, keeps each side's fastest, and
# prints the times (training, 10k samples with 1000 DDPM steps, with 50 DDIM
# steps), the sliced Wasserstein distance of both sides' DDPM samples to one
# fresh sample of the ring (computed by the same C function), and the ratios.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$SRC/build-bench}"
STEPS="${STEPS:-10000}"
THREADS="${THREADS:-1 2}"
PY=/usr/bin/python3

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Dui=false --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench-diffusion >/dev/null
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
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/bench/bench-diffusion" --dump-data "$TMP/data.f32"

get() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p"; }
best() { sort -g | head -1; }

: > "$TMP/ours" ; : > "$TMP/torch"
for t in $THREADS; do
  "$BUILD/bench/bench-diffusion" --threads "$t" --steps "$STEPS" | tee -a "$TMP/ours"
  $PY "$SRC/bench/bench_diffusion_torch.py" --data "$TMP/data.f32" --threads "$t" --steps "$STEPS" \
      --samples-out "$TMP/torch-$t.f32" | tee -a "$TMP/torch"
done
torch_swd=$("$BUILD/bench/bench-diffusion" --swd-of "$TMP/torch-$(echo $THREADS | awk '{print $1}').f32" | get swd)
ours_swd=$(get swd_ddpm < "$TMP/ours" | head -1)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) vCPUs, $STEPS steps; best over threads {$THREADS}"
printf '%-10s %9s %9s %7s\n' phase ours torch ratio
for k in train_sec ddpm_sec ddim_sec; do
  o=$(get $k < "$TMP/ours" | best); p=$(get $k < "$TMP/torch" | best)
  printf '%-10s %9.3f %9.3f %7.3f\n' "$k" "$o" "$p" "$(awk -v a="$o" -v b="$p" 'BEGIN { print a / b }')"
done
printf '%-10s %9.4f %9.4f %7.3f\n' swd_ddpm "$ours_swd" "$torch_swd" \
  "$(awk -v a="$ours_swd" -v b="$torch_swd" 'BEGIN { print a / b }')"
echo "# goals: train ratio <= 0.4, sampling ratios <= 0.5, swd ratio <= 1.1"
