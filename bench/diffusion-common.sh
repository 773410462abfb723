# diffusion-common.sh: sourced by run-diffusion.sh and run-diffusion-swd.sh.
# Sets SRC, BUILD (default <src>/build-bench, configured as a release build
# without the UI if missing), STEPS, INIT, PY and, from INIT ("own": each
# side its library's default initialisation; "torch" or "ours": both the
# same), init_ours and init_torch.
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$SRC/build-bench}"
STEPS="${STEPS:-10000}"
INIT="${INIT:-own}"
PY=/usr/bin/python3

case "$INIT" in
  own) init_ours=ours; init_torch=torch ;;
  torch|ours) init_ours=$INIT; init_torch=$INIT ;;
  *) echo "INIT must be own, torch or ours, not '$INIT'" >&2; exit 2 ;;
esac

if [ ! -d "$BUILD" ]; then
  meson setup "$BUILD" -Dui=false --buildtype=release >/dev/null
fi
