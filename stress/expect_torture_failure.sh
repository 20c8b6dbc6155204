#!/usr/bin/env bash
# Runs a torture test's deliberately broken build (argument 1) for 2 seconds
# (or $RCU_NEGATIVE_CONTROL_SECONDS) and passes only if it reports
# violations: exit status 1, a "FAILURE" line and at least one violation
# matching the extended regular expression in argument 2 (by default, the
# early grace period that TORTURE_BREAK_GRACE_PERIOD causes). A crash or a
# pass fails this test.
set -uo pipefail
binary=$1
expected=${2:-grace period ended early}
output=$(RCU_STRESS_SECONDS=${RCU_NEGATIVE_CONTROL_SECONDS:-2} "$binary" 2>&1)
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
if ! grep -qE "$expected" <<<"$output"; then
  echo "negative control: failed, but with no violation matching '$expected'"
  exit 1
fi
echo "negative control: the broken build failed, as it must"
