#!/usr/bin/env bash
# The negative controls' check: runs a stress test's deliberately broken
# build (argument 1) for 2 seconds (or $RCU_NEGATIVE_CONTROL_SECONDS) and
# passes only if it fails the way it must: exit status 1, a "FAILURE" line,
# and at least one line matching the extended regular expression in
# argument 2 (by default any violation). A crash, a hang (over 300 s) or a
# failure of another kind fails this test.
#
# The broken builds' bugs are races: a run on a busy machine can miss them
# (the callback torture's broken build passed one 2-second run while the
# whole suite ran beside it). A run that passes is therefore repeated, up to
# $RCU_NEGATIVE_CONTROL_TRIES runs in all (default 5); only if every one
# passes does this test fail.
#
#   expect_failure.sh BINARY [PATTERN]
set -uo pipefail
binary=$1
expected=${2:-VIOLATION|FAILURE}
tries=${RCU_NEGATIVE_CONTROL_TRIES:-5}
for ((try = 1; try <= tries; ++try)); do
  output=$(RCU_STRESS_SECONDS=${RCU_NEGATIVE_CONTROL_SECONDS:-2} timeout 300 "$binary" 2>&1)
  status=$?
  echo "$output" | head -80
  echo "---"
  if [[ $status -ne 0 ]]; then
    break
  fi
  echo "negative control: run $try of $tries of $binary passed (exit status 0)"
done
if [[ $status -ne 1 ]]; then
  echo "negative control: expected exit status 1 from $binary, got $status"
  exit 1
fi
if ! grep -q '^FAILURE: ' <<<"$output"; then
  echo "negative control: no FAILURE line in the output"
  exit 1
fi
if ! grep -qE "$expected" <<<"$output"; then
  echo "negative control: failed, but with no line matching '$expected'"
  exit 1
fi
echo "negative control: the broken build failed, as it must (run $try)"
