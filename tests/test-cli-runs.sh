#!/usr/bin/env bash
# test-cli-runs.sh: black-box test of protoscope-cli's run management
# (runs, show, metrics, export, rename, tag, compare, merge, delete, cancel,
# resume) against a temporary store.  TAP output.
set -u

CLI=${PROTOSCOPE_CLI:?PROTOSCOPE_CLI must name the built protoscope-cli}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
T=$(mktemp -d "${TMPDIR:-/tmp}/ps-cli-runs-XXXXXX")
trap 'rm -rf "$T"' EXIT
DB="$T/runs.sqlite"

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check NAME COMMAND...: passes when the command succeeds.
check () { local name=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$name"; else not_ok "$name"; sed 's/^/# /' "$T/out" "$T/err"; fi; }
# one_line_failure NAME NEEDLE COMMAND...: the command exits non-zero with
# exactly one line on stderr that contains NEEDLE.
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

echo "1..32"

check "train run 1" "$CLI" train mlp --dataset moons --set epochs=2 --seed 1 --db "$DB"
check "train run 2 (another seed)" "$CLI" train mlp --dataset moons --set epochs=2 --seed 2 --db "$DB"
check "train run 3 (another lr)" "$CLI" train mlp --dataset moons --set epochs=2 --set lr=0.01 --seed 1 --db "$DB"

check "runs lists the three runs with a key metric" \
  bash -c "'$CLI' runs --db '$DB' | grep -c 'finished.*test_acc=' | grep -qx 3"
check "runs --name GLOB and --status filter" \
  bash -c "'$CLI' runs --db '$DB' --name 'mlp-moons-2' --status finished | tail -n +2 | wc -l | grep -qx 1"
check "show has status, parameters, metric summary and checkpoint" \
  bash -c "'$CLI' show 1 --db '$DB' > '$T/show' && grep -q 'status *finished' '$T/show' && grep -q '^parameters' '$T/show' && grep -q 'test_acc' '$T/show' && grep -q '^checkpoint step' '$T/show' && grep -q '^snapshots *1' '$T/show'"
check "metrics --csv has a header and every loss step" \
  bash -c "'$CLI' metrics 1 --csv --db '$DB' > '$T/m.csv' && head -1 '$T/m.csv' | grep -qx 'name,step,value' && [ \$(grep -c '^loss,' '$T/m.csv') -ge 2 ]"

check "export writes metrics.csv, metrics.json, run.json and .npy files" \
  "$CLI" export 1 --out "$T/ex" --all-steps --db "$DB"
check "exported files load in Python (NPY v1 header, dtypes, JSON)" "$PY" - "$T/ex" <<'EOF'
import sys, os, glob, json, csv
import numpy as np
d = sys.argv[1]
run = json.load(open(os.path.join(d, "run.json")))
assert run["id"] == 1 and run["status"] == "finished" and run["seed"] == 1, run
assert isinstance(run["params"], dict) and "lr" in run["params"]
assert "test_acc" in run["final_metrics"]
series = json.load(open(os.path.join(d, "metrics.json")))
rows = list(csv.DictReader(open(os.path.join(d, "metrics.csv"))))
assert len(rows) == sum(len(s["steps"]) for s in series.values())
assert abs(series["test_acc"]["values"][-1] - run["final_metrics"]["test_acc"]) < 1e-12
files = glob.glob(os.path.join(d, "*.npy"))
assert files, "no .npy"
for f in files:
    raw = open(f, "rb").read()
    assert raw[:6] == b"\x93NUMPY" and raw[6:8] == b"\x01\x00", f
    hlen = raw[8] | (raw[9] << 8)
    assert (10 + hlen) % 64 == 0 and raw[10 + hlen - 1:10 + hlen] == b"\n", f
    a = np.load(f)
    assert a.dtype.str in ("<f4", "<i4", "|u1", "<f8", "<i8"), (f, a.dtype.str)
    assert a.size * a.itemsize == len(raw) - 10 - hlen, f
    twin = os.path.join(d, "snapshots", os.listdir(os.path.join(d, "snapshots"))[-1], os.path.basename(f))
    assert np.array_equal(np.load(twin), a), twin
EOF

check "rename" "$CLI" rename 1 first --db "$DB"
check "renamed run found by name" bash -c "'$CLI' show first --db '$DB' | head -1 | grep -qx 'run 1: first'"
check "tag" "$CLI" tag 1 best --db "$DB"
check "runs --tag lists only the tagged run" \
  bash -c "'$CLI' runs --tag best --db '$DB' | tail -n +2 | grep -c . | grep -qx 1"
check "tag --remove" bash -c "'$CLI' tag 1 best --remove --db '$DB' && '$CLI' runs --tag best --db '$DB' | grep -q '^no runs match'"

check "compare shows differing parameters, metrics and a seed group" \
  bash -c "'$CLI' compare 1 2 3 --db '$DB' > '$T/cmp' && grep -q '^parameters that differ' '$T/cmp' && grep -q '^  lr ' '$T/cmp' && grep -q 'test_acc' '$T/cmp' && grep -q 'runs 1 (seed 1), 2 (seed 2)' '$T/cmp' && grep -q ' +- ' '$T/cmp'"

DB2="$T/other.sqlite"
check "train into a second store" "$CLI" train mlp --dataset blobs --set epochs=1 --seed 5 --db "$DB2"
check "merge copies the other store's run" \
  bash -c "'$CLI' merge '$DB2' --db '$DB' | grep -q '^merged 1 runs'"
check "a second merge copies nothing" \
  bash -c "'$CLI' merge '$DB2' --db '$DB' | grep -q '^merged 0 runs.*(1 already present)'"
check "the merged run is listed with its metrics" \
  bash -c "'$CLI' runs --dataset blobs --db '$DB' | grep -q 'finished.*test_acc='"

check "delete" "$CLI" delete 2 --db "$DB"
one_line_failure "show of a deleted run fails with one line" "no run with id 2" "$CLI" show 2 --db "$DB"
one_line_failure "a missing run id fails with one line" "999" "$CLI" metrics 999 --db "$DB"
one_line_failure "cancel of a finished run fails with one line" "finished" "$CLI" cancel 1 --db "$DB"
one_line_failure "rename without a name is a usage error" "rename" "$CLI" rename 1 --db "$DB"

printf 'name,value\na,1\n' > "$T/notes.sqlite"
cp "$T/notes.sqlite" "$T/notes.orig"
one_line_failure "a non-SQLite --db fails with one line naming it" "notes.sqlite" "$CLI" runs --db "$T/notes.sqlite"
check "the non-SQLite file is unchanged" cmp -s "$T/notes.sqlite" "$T/notes.orig"
one_line_failure "merging a non-store fails with one line" "notes.sqlite" "$CLI" merge "$T/notes.sqlite" --db "$DB"
one_line_failure "a missing --db file is reported, not created" "missing.sqlite" "$CLI" runs --db "$T/missing.sqlite"
check "the missing store was not created" test ! -e "$T/missing.sqlite"
check "merge into a new store creates it" \
  bash -c "'$CLI' merge '$DB2' --db '$T/fresh.sqlite' | grep -q '^merged 1 runs' && '$CLI' runs --db '$T/fresh.sqlite' | grep -q 'blobs'"

# Crash and resume: a long run is killed once it has a checkpoint; the
# next command marks it interrupted and `resume` finishes it.
"$CLI" train mlp --dataset moons --set epochs=1000 --seed 9 --checkpoint-every 100 \
  --name long --db "$DB" >"$T/long.out" 2>&1 &
pid=$!
have_ck=no
for _ in $(seq 1 300); do
  if "$CLI" show long --db "$DB" 2>/dev/null | grep -q '^checkpoint step'; then have_ck=yes; break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ $have_ck = yes ] && kill -9 "$pid" 2>/dev/null; then
  wait "$pid" 2>/dev/null
  check "a killed run is marked interrupted" \
    bash -c "'$CLI' show long --db '$DB' | grep -q 'status *interrupted'"
  check "resume finishes the interrupted run" \
    bash -c "'$CLI' resume long --db '$DB' > '$T/resume' 2>&1 && '$CLI' show long --db '$DB' | grep -q 'status *finished'"
else
  wait "$pid" 2>/dev/null
  ok "a killed run is marked interrupted # SKIP the run ended before it could be killed"
  ok "resume finishes the interrupted run # SKIP the run ended before it could be killed"
fi

[ $n -eq 32 ] || echo "# planned 32 tests, ran $n"
exit $((failed > 0))
