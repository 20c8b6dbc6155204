#!/usr/bin/env bash
# Runs the torture test built with TORTURE_BREAK_GRACE_PERIOD (argument 1)
# for 2 seconds and passes only if it reports violations: exit status 1, a
# "FAILURE" line and at least one early-grace-period violation. A crash or a
# pass fails this test.
set -uo pipefail
binary=$1
output=$(RCU_STRESS_SECONDS=2 "$binary" 2>&1)
status=$?
echo "$output"
echo "---"
if [[ $status -ne 1 ]]; then
  echo "negative control: expected exit status 1 from $binary, got $status"
  exit 1
fi
if ! grep -q '^FAILURE: ' <<<"$output"; then
  echo "negative control: no FAILURE line in the output"
  exit 1
fi
if ! grep -q 'grace period ended early' <<<"$output"; then
  echo "negative control: failed, but not with pipe count > 1"
  exit 1
fi
echo "negative control: the broken build failed, as it must"
