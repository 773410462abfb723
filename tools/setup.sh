#!/usr/bin/env bash
# Protoscope set-up: installs what is missing from Debian 12, builds, then
#   run   opens the app on a demo that trains live (the CLI demo without a display)
#   test  runs every test (core, ui under Xvfb, core again under ASan+UBSan)
#         and ends with the line "N passed, N failed".
set -euo pipefail

mode=${1:-run}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev libgtk-4-dev
            libjson-glib-dev libopenblas-dev libsqlite3-dev python3 dataset-fashion-mnist)
test_pkgs=(xvfb xauth dbus sqlite3 imagemagick python3-numpy)

want=("${build_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")
[ "$mode" = run ] && want+=(xvfb xauth)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please run as root:  apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)

configure () {  # dir [meson options...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  else
    meson setup --reconfigure "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" -j "$jobs" >/dev/null
}

case "$mode" in
  run)
    configure build
    if [ -x build/app/protoscope ]; then
      if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        exec build/app/protoscope --demo
      fi
      echo "setup: no display; opening the window on a virtual one (xvfb-run) is pointless, running the CLI demo"
    fi
    exec build/app/protoscope-cli demo
    ;;
  test)
    configure build
    configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dui=false -Dbuildtype=debug
    status=0
    export GTK_A11Y=none
    meson test -C build --suite core --num-processes "$jobs" --print-errorlogs >/tmp/ps-test-core.log 2>&1 || status=1
    if [ -d build/ui ] && command -v xvfb-run >/dev/null; then
      xvfb-run -a -s "-screen 0 1600x1000x24" \
        meson test -C build --suite ui --num-processes 1 --print-errorlogs >/tmp/ps-test-ui.log 2>&1 || status=1
    fi
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C build-asan --suite core --num-processes "$jobs" --timeout-multiplier 4 \
      --print-errorlogs >/tmp/ps-test-asan.log 2>&1 || status=1
    python3 tools/count-tests.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
    rc=$?
    [ $status = 0 ] && [ $rc = 0 ] || exit 1
    ;;
  *)
    echo "usage: tools/setup.sh run|test" >&2
    exit 2
    ;;
esac
