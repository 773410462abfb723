#!/usr/bin/env python3
"""Counts TAP results in meson test logs and prints 'N passed, N failed'.

Each meson test runs one TAP program; every 'ok' line is one passed check
and every 'not ok' one failed check.  A test program that failed without a
'not ok' line (a crash, a timeout, a sanitizer report) counts as one more
failure, so nothing that broke is silent.  Exits 1 on any failure."""
import json
import re
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        if not line.strip():
            continue
        rec = json.loads(line)
        out = rec.get("stdout", "") or ""
        ok = nok = sk = 0
        for l in out.splitlines():
            if re.match(r"^ok\b", l):
                if "# SKIP" in l:
                    sk += 1
                else:
                    ok += 1
            elif re.match(r"^not ok\b", l):
                if "# TODO" in l:
                    continue
                nok += 1
        res = rec.get("result", "")
        if res in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS") and nok == 0:
            nok = 1
            print(f"FAILED: {rec.get('name')} ({res}) in {path}", file=sys.stderr)
        elif nok:
            print(f"FAILED: {rec.get('name')}: {nok} check(s) in {path}", file=sys.stderr)
        passed += ok
        failed += nok
        skipped += sk
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
