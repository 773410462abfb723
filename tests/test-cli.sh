#!/usr/bin/env bash
# test-cli.sh: protoscope-cli as a person uses it (TAP).  Trains on the
# built-in sets, a .npy pair, a CSV and Fashion-MNIST; checks bad input
# gives one clear line and a non-zero exit; Ctrl-C stops cleanly.
set -u
CLI=${PROTOSCOPE_CLI:?}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok () { n=$((n+1)); echo "ok $n - $1"; }
not_ok () { n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2" | head -20; }
check () { # description, command...
  local d=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then ok "$d"; else not_ok "$d" "$tmp/err"; fi
}
# A command that must fail with exit code $2 and one stderr line matching $3.
check_fails () { # description, expected-exit, stderr-regex, command...
  local d=$1 want=$2 re=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(grep -c . "$tmp/err")
  if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -Eq "$re" "$tmp/err"; then
    ok "$d"
  else
    echo "# exit $rc (wanted $want), $lines stderr lines:"; not_ok "$d" "$tmp/err"
  fi
}
json_metric () { # file, metric -> value of the last line's metrics
  tail -n 1 "$1" | $PY -c "import json,sys; print(json.load(sys.stdin)['metrics']['$2'])"
}

check "datasets lists digits, moons and fashion-mnist" \
  bash -c "$CLI datasets | grep -q '^digits' && $CLI datasets | grep -q '^moons' && $CLI datasets | grep -q '^fashion-mnist'"
check "methods describes mlp's parameters" \
  bash -c "$CLI methods mlp | grep -q 'epochs' && $CLI methods mlp | grep -q 'learning rate\\|Learning rate'"
check_fails "unknown command exits 2" 2 "unknown command" $CLI frobnicate
check_fails "unknown method exits 2" 2 "unknown method 'nope'" $CLI train nope --dataset digits --no-store
check_fails "a parameter out of range exits 2" 2 "epochs.*outside its range" \
  $CLI train mlp --dataset digits --set epochs=0 --no-store
check_fails "an unknown parameter exits 2" 2 "unknown parameter 'epoch'" \
  $CLI train mlp --dataset digits --set epoch=3 --no-store

# Training on the digits reaches the bar, printed as JSON on the last line.
if $CLI train mlp --dataset digits --set epochs=15 --set batch_size=64 --seed 1 --json --no-store \
     >"$tmp/digits.json" 2>"$tmp/err"; then
  acc=$(json_metric "$tmp/digits.json" test_acc)
  if $PY -c "import sys; sys.exit(0 if $acc > 0.9 else 1)"; then ok "mlp learns digits (test_acc $acc)"; else not_ok "mlp learns digits (test_acc $acc)"; fi
else
  not_ok "train mlp on digits" "$tmp/err"
fi

# A person's own .npy features and labels (float64 features, int64 labels).
$PY - "$tmp" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
a = rng.normal(size=(150, 5)) + np.repeat(np.eye(3, 5) * 4, 50, axis=0)
y = np.repeat(np.arange(3), 50).astype(np.int64)
np.save(f"{d}/x.npy", a.astype(np.float64))
np.save(f"{d}/y.npy", y)
np.save(f"{d}/y_short.npy", y[:100])
with open(f"{d}/own.csv", "w") as f:
    f.write("a,b,c,d,e,species\n")
    for row, lab in zip(a, y):
        f.write(",".join(f"{v:.5f}" for v in row) + f",{['setosa','virginica','versicolor'][lab]}\n")
raw = open(f"{d}/x.npy", "rb").read()
open(f"{d}/truncated.npy", "wb").write(raw[: len(raw) // 2])
open(f"{d}/badheader.npy", "wb").write(b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'fortran_order'" + b" " * 10)
PYEOF
if $CLI train mlp --dataset "$tmp/x.npy" --labels "$tmp/y.npy" --set epochs=30 --json --no-store \
     >"$tmp/npy.json" 2>"$tmp/err"; then
  acc=$(json_metric "$tmp/npy.json" test_acc)
  if $PY -c "import sys; sys.exit(0 if $acc > 0.8 else 1)"; then ok "train on .npy features + labels (test_acc $acc)"; else not_ok "train on .npy (test_acc $acc)"; fi
else
  not_ok "train on .npy features + labels" "$tmp/err"
fi
if $CLI train mlp --dataset "$tmp/own.csv" --label-column species --set epochs=30 --json --no-store \
     >"$tmp/csv.json" 2>"$tmp/err"; then
  acc=$(json_metric "$tmp/csv.json" test_acc)
  if $PY -c "import sys; sys.exit(0 if $acc > 0.8 else 1)"; then ok "train on CSV with string labels (test_acc $acc)"; else not_ok "train on CSV (test_acc $acc)"; fi
else
  not_ok "train on CSV with string labels" "$tmp/err"
fi

check_fails "a truncated .npy is refused naming the file" 1 "truncated\.npy" \
  $CLI train mlp --dataset "$tmp/truncated.npy" --labels "$tmp/y.npy" --no-store
check_fails "a malformed .npy header is refused naming the file" 1 "badheader\.npy" \
  $CLI train mlp --dataset "$tmp/badheader.npy" --labels "$tmp/y.npy" --no-store
check_fails "labels of another length are refused" 1 "y_short\.npy|150|100" \
  $CLI train mlp --dataset "$tmp/x.npy" --labels "$tmp/y_short.npy" --no-store
check_fails "a missing file is refused naming it" 1 "missing\.npy" \
  $CLI train mlp --dataset "$tmp/missing.npy" --no-store
check_fails "a CSV without the label column is refused" 1 "label|colour" \
  $CLI train mlp --dataset "$tmp/own.csv" --label-column colour --no-store
head -c 4096 /dev/urandom >"$tmp/junk.sqlite"
cp "$tmp/junk.sqlite" "$tmp/junk.orig"
check_fails "a store that is not SQLite is refused naming the file" 1 "junk\.sqlite" \
  $CLI train mlp --dataset digits --db "$tmp/junk.sqlite"
check "the refused store file is unchanged" cmp "$tmp/junk.sqlite" "$tmp/junk.orig"

# Fashion-MNIST from Debian's package (a subset for speed).
if [ -d /usr/share/datasets/fashion-mnist ]; then
  if $CLI train mlp --dataset fashion-mnist --set epochs=1 --set max_train=6000 --json --no-store \
       >"$tmp/fm.json" 2>"$tmp/err"; then
    acc=$(json_metric "$tmp/fm.json" test_acc)
    if $PY -c "import sys; sys.exit(0 if $acc > 0.7 else 1)"; then ok "train on Fashion-MNIST (test_acc $acc)"; else not_ok "train on Fashion-MNIST (test_acc $acc)"; fi
  else
    not_ok "train on Fashion-MNIST" "$tmp/err"
  fi
else
  n=$((n+1)); echo "ok $n - # SKIP Fashion-MNIST not installed"
fi

# A stored run, then Ctrl-C on a long one: it stops cleanly as cancelled.
check "train stores a run" $CLI train mlp --dataset moons --set epochs=5 --db "$tmp/runs.sqlite" --name stored
$CLI train mlp --dataset digits --set epochs=1000 --set batch_size=8 --db "$tmp/runs.sqlite" --name long \
  >"$tmp/long.out" 2>"$tmp/long.err" &
pid=$!
# Wait (bounded) until training has reported progress, then interrupt.
for _ in $(seq 1 300); do
  grep -q "progress" "$tmp/long.err" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 130 ] && grep -q "interrupted" "$tmp/long.err"; then ok "Ctrl-C stops training with exit 130"; else echo "# exit $rc"; not_ok "Ctrl-C stops training" "$tmp/long.err"; fi
if command -v sqlite3 >/dev/null; then
  st=$(sqlite3 "$tmp/runs.sqlite" "select status from runs where name='long'")
  if [ "$st" = cancelled ]; then ok "the interrupted run is stored as cancelled"; else not_ok "interrupted run status is '$st'"; fi
fi
# Two trainings writing to one store at once both complete with all their metrics.
$CLI train mlp --dataset digits --set epochs=12 --eval-every 5 --db "$tmp/two.sqlite" --name w1 >"$tmp/w1.out" 2>"$tmp/w1.err" &
p1=$!
$CLI train mlp --dataset digits --set epochs=12 --eval-every 5 --db "$tmp/two.sqlite" --name w2 >"$tmp/w2.out" 2>"$tmp/w2.err" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ]; then ok "two concurrent trainings on one store both finish"; else not_ok "two concurrent trainings (exit $r1, $r2)" "$tmp/w2.err"; fi
if command -v sqlite3 >/dev/null; then
  counts=$(sqlite3 "$tmp/two.sqlite" "select r.status || ':' || count(m.step) from runs r join metrics m on m.run = r.id where m.name = 'loss' group by r.id order by r.name")
  # 1257 training rows, batch 128: 10 steps an epoch, 12 epochs = 120 loss rows each.
  if [ "$counts" = "$(printf 'finished:120\nfinished:120')" ]; then ok "both stored every loss row"; else echo "# $counts"; not_ok "both stored every loss row"; fi
fi
check "demo trains the moons classifier" $CLI demo --no-store

echo "1..$n"
[ $failed = 0 ]
