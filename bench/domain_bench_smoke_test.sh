#!/usr/bin/env bash
# bench/domain_bench_smoke_test.sh BINARY: runs //bench:domain_bench --quick
# and checks that it exits 0 and printed every table with every cell
# measured (no "n/a"). The figures themselves are not checked: a quick run on
# a shared machine measures nothing reliable.
set -euo pipefail
binary=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$binary" --quick --idle_readers=2 --busy_readers=1 >"$out" ||
  { cat "$out"; echo "domain_bench_smoke_test: domain_bench --quick failed" >&2; exit 1; }
cat "$out"

fail() { echo "domain_bench_smoke_test: $*" >&2; exit 1; }
grep -q '^Read side: CPU ns per section' "$out" || fail "no read-side table"
grep -q '^Grace periods with 2 idle registered reader threads' "$out" || fail "no idle-reader table"
grep -q '^Grace periods with 1 busy reader thread ' "$out" || fail "no busy-reader table"
# 4 read rows, 5 ratio rows, and 7 update tables of 5 rows.
rows=$(grep -cE '^    [^ ].*[0-9]' "$out" || true)
[[ $rows -ge $((4 + 5 + 7 * 5)) ]] || fail "expected at least 44 rows of figures, found $rows"
if grep -q 'n/a' "$out"; then fail "some benchmarks did not run (n/a above)"; fi
echo "domain_bench_smoke_test: PASSED"
