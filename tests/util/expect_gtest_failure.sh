#!/usr/bin/env bash
# A negative control's check for a GoogleTest binary built with a bug put
# back: runs BINARY with --gtest_filter=FILTER and passes only if the tests
# fail (exit status 1) with a line matching the extended regular expression
# PATTERN. A pass, a crash or a failure of another kind fails this test.
#
#   expect_gtest_failure.sh BINARY FILTER PATTERN
set -uo pipefail
binary=$1
filter=$2
expected=$3
output=$(timeout 300 "$binary" --gtest_filter="$filter" 2>&1)
status=$?
echo "$output" | tail -40
echo "---"
if [[ $status -ne 1 ]]; then
  echo "negative control: expected exit status 1 from $binary, got $status"
  exit 1
fi
if ! grep -qE "$expected" <<<"$output"; then
  echo "negative control: failed, but with no line matching '$expected'"
  exit 1
fi
echo "negative control: the broken build failed, as it must"
