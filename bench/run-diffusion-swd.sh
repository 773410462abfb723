#!/bin/bash
# run-diffusion-swd.sh: sample quality of the 2-D DDPM benchmark over many seeds.
#
#   bench/run-diffusion-swd.sh                # seeds 1..14
#   SEEDS="1 2 3" STEPS=10000 bench/run-diffusion-swd.sh
#
# run-diffusion.sh measures time over a few rounds, and its sliced Wasserstein
# distance (SWD) is a mean over those few seeds: the seed-to-seed spread of
# either side (std about 0.025 at 10,000 steps) is larger than a 10%
# difference of the means.  This script trains and samples both sides (one
# thread each, timing ignored) for each seed, prints each seed's SWD of the
# 1000-step DDPM samples to one fresh ring sample, then the mean, standard
# deviation and standard error per side and the ratio of the means.  Both
# sides start from their library's default initialisation (as
# run-diffusion.sh's INIT=own); INIT=torch or INIT=ours makes them equal.
set -euo pipefail

SEEDS="${SEEDS:-$(seq 1 14)}"
. "$(dirname "$0")/diffusion-common.sh"
ninja -C "$BUILD" bench/bench-diffusion >/dev/null
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/bench/bench-diffusion" --dump-data "$TMP/data.f32"
for s in $SEEDS; do
  o=$("$BUILD/bench/bench-diffusion" --threads 1 --steps "$STEPS" --seed "$s" --init "$init_ours" \
      | sed -n 's/.*swd_ddpm=\([0-9.]*\).*/\1/p')
  $PY "$SRC/bench/bench_diffusion_torch.py" --data "$TMP/data.f32" --threads 1 --steps "$STEPS" \
      --seed "$s" --init "$init_torch" --samples-out "$TMP/torch.f32" >/dev/null
  t=$("$BUILD/bench/bench-diffusion" --swd-of "$TMP/torch.f32" | sed -n 's/^swd=//p')
  echo "seed=$s ours=$o torch=$t"
done | tee "$TMP/log" 
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n++; so += v["ours"]; qo += v["ours"] ^ 2; st += v["torch"]; qt += v["torch"] ^ 2 }
  END {
    mo = so / n; mt = st / n
    sdo = n > 1 ? sqrt((qo - n * mo ^ 2) / (n - 1)) : 0
    sdt = n > 1 ? sqrt((qt - n * mt ^ 2) / (n - 1)) : 0
    printf "swd_ddpm over %d seeds: ours %.4f +- %.4f (se %.4f), torch %.4f +- %.4f (se %.4f), ratio of means %.3f\n",
      n, mo, sdo, sdo / sqrt(n), mt, sdt, sdt / sqrt(n), mo / mt
  }' "$TMP/log"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $STEPS steps, init $INIT; goal: ratio of means <= 1.1"
