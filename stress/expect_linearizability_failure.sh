#!/usr/bin/env bash
# Runs the linearizability checker built with a stale-read mutant (argument
# 1) for 2 seconds and passes only if the checker catches it: exit status 1,
# a "FAILURE" line and at least one "not linearizable" history. A pass, a
# crash, a hang or a failure of another kind fails this test.
set -uo pipefail
binary=$1
output=$(RCU_STRESS_SECONDS=2 timeout 300 "$binary" 2>&1)
status=$?
echo "$output" | head -80
echo "---"
if [[ $status -ne 1 ]]; then
  echo "negative control: expected exit status 1 from $binary, got $status"
  exit 1
fi
if ! grep -q '^FAILURE: ' <<<"$output"; then
  echo "negative control: no FAILURE line in the output"
  exit 1
fi
if ! grep -q 'VIOLATION: not linearizable' <<<"$output"; then
  echo "negative control: failed, but not with a non-linearizable history"
  exit 1
fi
echo "negative control: the stale-read mutant was caught, as it must be"
