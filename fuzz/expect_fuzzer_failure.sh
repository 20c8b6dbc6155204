#!/usr/bin/env bash
# Negative control for a fuzzer: runs a deliberately broken build of it
# (argument 1) on its corpus (the remaining arguments, files) and passes only
# if it fails with a report matching the pattern (argument 2), as a correct
# fuzzer must. A broken build that passes means the fuzzer lost its teeth.
set -uo pipefail
binary=$1
pattern=$2
shift 2
output=$("$binary" -timeout=30 "$@" 2>&1)
status=$?
echo "$output" | grep -vE '^\s+#[0-9]+ ' | tail -n 40
echo "---"
if [[ $status -eq 0 ]]; then
  echo "negative control: $(basename "$binary") passed its corpus; it must fail"
  exit 1
fi
if ! grep -qE "$pattern" <<<"$output"; then
  echo "negative control: failed (status $status), but without '$pattern'"
  exit 1
fi
echo "negative control: the broken build failed with '$pattern', as it must"
