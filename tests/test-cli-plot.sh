#!/usr/bin/env bash
# test-cli-plot.sh: protoscope-cli plot draws each view of stored runs to
# PNG, SVG and PDF (checked by magic bytes), an SVG of a 10k-point
# embedding stays under 2 MB, and bad requests fail with one line.  TAP.
set -u

CLI=${PROTOSCOPE_CLI:?PROTOSCOPE_CLI must name the built protoscope-cli}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
T=$(mktemp -d "${TMPDIR:-/tmp}/ps-cli-plot-XXXXXX")
trap 'rm -rf "$T"' EXIT
DB="$T/r.sqlite"
BIG="$T/big.sqlite"

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check () { local name=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$name"; else not_ok "$name"; sed 's/^/# /' "$T/out" "$T/err"; fi; }
one_line_failure () {
  local name=$1 needle=$2; shift 2
  if "$@" >"$T/out" 2>"$T/err"; then
    not_ok "$name (exited 0)"; return
  fi
  if [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$needle" "$T/err"; then
    ok "$name"
  else
    not_ok "$name"; sed 's/^/# stderr: /' "$T/err"
  fi
}
# magic FILE EXT: the file starts with the signature of its format.
magic () {
  case $2 in
    png) head -c 8 "$1" | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a$' ;;
    pdf) head -c 5 "$1" | grep -q '^%PDF-' ;;
    svg) head -c 400 "$1" | grep -q '<svg' ;;
  esac
}

echo "1..35"

check "train a tiny run" "$CLI" train mlp --dataset moons --set epochs=3 --db "$DB"
check "train two seeds of another setting" "$CLI" train mlp --dataset moons --set epochs=3 --set lr=0.02 --seeds 2 --db "$DB"

for view in curves embedding compare; do
  runs=1
  [ "$view" = compare ] && runs="1 2 3"
  for ext in png svg pdf; do
    f="$T/$view.$ext"
    # shellcheck disable=SC2086
    if "$CLI" plot $runs --view "$view" --out "$f" --db "$DB" >"$T/out" 2>"$T/err" \
       && [ -s "$f" ] && magic "$f" "$ext"; then
      ok "$view to $ext"
    else
      not_ok "$view to $ext"; sed 's/^/# /' "$T/err"
    fi
  done
done

# PNG size follows --width/--height/--scale.
check "png at scale 2" "$CLI" plot 1 --view embedding --color-by correct --width 300 --height 200 --scale 2 \
  --out "$T/s.png" --db "$DB"
dims=$($PY -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$T/s.png" 2>/dev/null)
if [ "$dims" = "600 400" ]; then ok "png is 600x400"; else not_ok "png is 600x400 (got '$dims')"; fi

check "one metric of the curves" "$CLI" plot 1 --view curves --metric loss --out "$T/loss.svg" --db "$DB"
check "embedding coloured by score" "$CLI" plot 1 --view embedding --color-by score --out "$T/score.svg" --db "$DB"

# 10k points: every point drawn, the SVG still compact.
check "train on 10k moons" "$CLI" train mlp --dataset moons:n=10000 --set epochs=1 --db "$BIG"
check "export the 10k snapshot" "$CLI" export 1 --out "$T/exp" --db "$BIG"
rows=$($PY -c "import numpy as np,sys; print(np.load(sys.argv[1]).shape[0])" "$T/exp/points.npy" 2>/dev/null)
if [ "$rows" = 10000 ]; then ok "the snapshot holds 10000 points"; else not_ok "the snapshot holds 10000 points (got '$rows')"; fi
check "10k embedding to svg" "$CLI" plot 1 --view embedding --out "$T/big.svg" --db "$BIG"
size=$(stat -c %s "$T/big.svg" 2>/dev/null || echo 0)
if [ "$size" -gt 10000 ] && [ "$size" -lt 2097152 ]; then ok "10k svg is $size bytes (< 2 MB)"; else not_ok "10k svg size $size"; fi

one_line_failure "unknown view" "--view must be" "$CLI" plot 1 --view pie --out "$T/x.png" --db "$DB"
one_line_failure "compare needs two runs" "two or more runs" "$CLI" plot 1 --view compare --out "$T/x.png" --db "$DB"
one_line_failure "unknown run" "plot:" "$CLI" plot 99 --out "$T/x.png" --db "$DB"
one_line_failure "unknown extension" "plot:" "$CLI" plot 1 --out "$T/x.bmp" --db "$DB"

# The explanation sheet of a part-prototype run (ui/plot/ps-explain-sheet.c).
PPN="$T/ppn.sqlite"
check "train a tiny protopnet" "$CLI" train protopnet --dataset digits --set warm_epochs=1 \
  --set joint_epochs=2 --set last_epochs=1 --db "$PPN"
for ext in png svg pdf; do
  f="$T/sheet.$ext"
  if "$CLI" explain 1 --sample 5 --out "$f" --db "$PPN" >"$T/out" 2>"$T/err" && [ -s "$f" ] && magic "$f" "$ext"; then
    ok "explanation sheet to $ext"
  else
    not_ok "explanation sheet to $ext"; sed 's/^/# /' "$T/err"
  fi
done
# The sheet is 1000 units wide at scale 2, as tall as its rows need.
dims=$($PY -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); w,h=struct.unpack('>II', d[16:24]); print(w, h > 1200)" "$T/sheet.png" 2>/dev/null)
if [ "$dims" = "2000 True" ]; then ok "sheet png is 2000 px wide"; else not_ok "sheet png is 2000 px wide (got '$dims')"; fi
if grep -q "prototype" "$T/out"; then ok "explain prints the evidence"; else not_ok "explain prints the evidence"; fi
check "sheet png at scale 1" "$CLI" explain 1 --sample 5 --scale 1 --out "$T/sheet1.png" --db "$PPN"
w1=$($PY -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(struct.unpack('>II', d[16:24])[0])" "$T/sheet1.png" 2>/dev/null)
if [ "$w1" = 1000 ]; then ok "sheet png at scale 1 is 1000 px wide"; else not_ok "sheet png at scale 1 is 1000 px wide (got '$w1')"; fi
one_line_failure "sheet: unknown extension" "explain:" "$CLI" explain 1 --sample 5 --out "$T/x.bmp" --db "$PPN"
one_line_failure "sheet: not an image dataset" "not an image dataset" "$CLI" explain 1 --sample 0 --out "$T/x.png" --db "$DB"
one_line_failure "sheet: sample out of range" "out of range" "$CLI" explain 1 --sample 99999 --out "$T/x.png" --db "$PPN"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
