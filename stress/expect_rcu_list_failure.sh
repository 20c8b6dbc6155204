#!/usr/bin/env bash
# Runs the RCU list stress test built with
# RCU_LIST_INTERNAL_SKIP_GRACE_PERIOD_FOR_NEGATIVE_CONTROL (argument 1) for 2
# seconds and passes only if it fails the way it must: exit status 1 and a
# "FAILURE" line (a violation, or a reader that crashed on a freed node). A
# pass, a hang or any other exit status fails this test.
set -uo pipefail
binary=$1
output=$(RCU_STRESS_SECONDS=2 timeout 120 "$binary" 2>&1)
status=$?
echo "$output" | head -60
echo "---"
if [[ $status -ne 1 ]]; then
  echo "negative control: expected exit status 1 from $binary, got $status"
  exit 1
fi
if ! grep -q '^FAILURE: ' <<<"$output"; then
  echo "negative control: no FAILURE line in the output"
  exit 1
fi
echo "negative control: the broken build failed, as it must"
