#!/usr/bin/env bash
# run-window.sh: the window benchmarks under Xvfb at 1600x1000, as a table.
#   bench/run-window.sh [BUILD_DIR]      (default: build)
# (a) redraw after a pan, whole frames (pan request -> frame clock
#     "after-paint"), 100k and 1M points, with the renderer the app picks
#     ("app": GTK's default, but cairo when the only OpenGL is a software
#     rasteriser such as Xvfb's llvmpipe) and with GSK_RENDERER=gl forced;
# (b) largest main-loop gap while two jobs train in the real window;
# (c) cold start: process start -> first painted frame.
# Goals: (a) <= 16 ms at 100k and <= 50 ms at 1M; (b) < 50 ms; (c) < 1 s.
# Wall times depend on the machine's load: the cpu column (process CPU
# time per frame, all threads) is what one frame costs.
set -u
BUILD=${1:-build}
BIN="$BUILD/bench/bench-window"
[ -x "$BIN" ] || { echo "run-window.sh: $BIN not built" >&2; exit 1; }
export GTK_A11Y=none OPENBLAS_NUM_THREADS=1
export PROTOSCOPE_DATA_DIR=${PROTOSCOPE_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}
XVFB=(xvfb-run -a -s "-screen 0 1600x1000x24")
T=$(mktemp -d "${TMPDIR:-/tmp}/ps-run-window-XXXXXX")
trap 'rm -rf "$T"' EXIT

field () { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %10s %10s %10s %8s\n' "measure" "median" "p90" "max" "cpu/frame" "goal"
for renderer in app gl; do
  for n in 100000 1000000; do
    reps=30; [ "$n" = 1000000 ] && reps=12
    if [ "$renderer" = gl ]; then env_r=(env GSK_RENDERER=gl); else env_r=(env -u GSK_RENDERER); fi
    line=$("${XVFB[@]}" "${env_r[@]}" "$BIN" pan "$n" "$reps" 2>/dev/null | grep '^pan')
    goal=16; [ "$n" = 1000000 ] && goal=50
    printf '%-34s %10s %10s %10s %10s %8s\n' "pan $n pts, $renderer (ms)" \
      "$(echo "$line" | field latency_median_ms)" "$(echo "$line" | field latency_p90_ms)" \
      "$(echo "$line" | field latency_max_ms)" "$(echo "$line" | field cpu_median_ms)" "<= $goal"
  done
done
# (b) columns: median, p99 and max gap; the last column is frames painted
# per second (each is a whole-window repaint under software GL).
for renderer in app gl; do
  if [ "$renderer" = gl ]; then env_r=(env GSK_RENDERER=gl); else env_r=(env -u GSK_RENDERER); fi
  line=$("${XVFB[@]}" "${env_r[@]}" "$BIN" loop-gap 15 2>/dev/null | grep '^loop-gap')
  printf '%-34s %10s %10s %10s %10s %8s\n' "main-loop gap, 2 jobs, $renderer (ms)" \
    "$(echo "$line" | field median_gap_ms)" "$(echo "$line" | field p99_gap_ms)" \
    "$(echo "$line" | field max_gap_ms)" "$(echo "$line" | field frames_per_s)/s" "< 50"
  printf '%-34s %10s %10s %10s %10s %8s\n' "  (first paint of the run, $renderer)" "-" "-" \
    "$(echo "$line" | field first_paint_gap_ms)" "-" "-"
done
for i in 1 2 3; do
  line=$("${XVFB[@]}" env XDG_DATA_HOME="$T" XDG_CONFIG_HOME="$T" "$BIN" cold-start "$(date +%s%N)" "$T/cold$i.sqlite" 2>/dev/null | grep '^cold-start')
  printf '%-34s %10s %10s %10s %10s %8s\n' "cold start to first frame #$i (ms)" \
    "$(echo "$line" | field first_frame_ms)" "-" "-" "-" "< 1000"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
