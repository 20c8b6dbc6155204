#!/usr/bin/env bash
# bench/showcase_smoke_test.sh BINARY: runs //bench:showcase --smoke into a
# temporary folder and checks what it wrote: report.md with its sections,
# Google Benchmark's raw JSON, and the four charts, each a valid PNG (the
# 8-byte signature, then an IHDR chunk of 13 bytes with a nonzero width and
# height, a legal bit depth and colour type, and a matching CRC). The
# figures themselves are not checked: a smoke pass measures nothing.
set -euo pipefail
binary=$1
dir=${TEST_TMPDIR:-$(mktemp -d)}/showcase
log=${TEST_TMPDIR:-/tmp}/showcase_smoke.log

fail() { echo "showcase_smoke_test: $*" >&2; exit 1; }

"$binary" --smoke --out="$dir" >"$log" 2>&1 ||
  { cat "$log"; fail "showcase --smoke failed"; }
cat "$log"

grep -q '^\[1/5\] read side' "$log" || fail "no progress lines ([k/n] ...)"
report=$dir/report.md
[[ -s $report ]] || fail "no report.md"
for section in '## Machine' '## Summary' '## Read side' '## Grace period' '## Reclamation' \
  '## Retire storm' '## Hash-map lookups' '## A reader beside a writer' '## Charts'; do
  grep -qF "$section" "$report" || fail "report.md has no '$section'"
done
grep -q '^- git commit: ' "$report" || fail "report.md does not name the commit"
grep -q '^- liburcu: [0-9]' "$report" || fail "report.md does not name liburcu's version"
for suite in read sync retire storm maps; do
  grep -q '"benchmarks"' "$dir/raw/$suite.json" || fail "raw/$suite.json is not benchmark JSON"
done

# check_png FILE: the PNG signature and a well-formed IHDR chunk.
check_png() {
  local file=$1
  [[ -s $file ]] || fail "$file missing"
  local head
  head=$(od -An -tx1 -N33 -v "$file" | tr -d ' \n')
  [[ ${#head} -eq 66 ]] || fail "$file: shorter than a PNG header"
  [[ ${head:0:16} == 89504e470d0a1a0a ]] || fail "$file: no PNG signature"
  [[ ${head:16:8} == 0000000d ]] || fail "$file: first chunk is not 13 bytes long"
  [[ ${head:24:8} == 49484452 ]] || fail "$file: first chunk is not IHDR"
  local width=$((16#${head:32:8})) height=$((16#${head:40:8}))
  local depth=$((16#${head:48:2})) colour=$((16#${head:50:2}))
  ((width > 0 && height > 0)) || fail "$file: zero width or height"
  [[ " 1 2 4 8 16 " == *" $depth "* ]] || fail "$file: bit depth $depth"
  [[ " 0 2 3 4 6 " == *" $colour "* ]] || fail "$file: colour type $colour"
  # The CRC covers the chunk type and data (bytes 12..28), stored in 29..32.
  local crc
  # (head first: `tail | head` would kill tail with SIGPIPE on a large file,
  # which pipefail turns into a silent failure.)
  crc=$(head -c 29 "$file" | tail -c 17 | gzip -c | tail -c 8 | od -An -tx4 -N4 | tr -d ' \n')
  [[ $crc == "${head:58:8}" ]] || fail "$file: IHDR CRC $crc, stored ${head:58:8}"
  echo "showcase_smoke_test: $file: PNG ${width}x${height}, depth $depth, colour $colour"
}
for chart in read_side map_lookups beside_writer retire_storm_memory; do
  check_png "$dir/$chart.png"
  grep -qF "($chart.png)" "$report" || fail "report.md does not embed $chart.png"
done
echo "showcase_smoke_test: PASSED"
