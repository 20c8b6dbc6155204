#!/usr/bin/env bash
# Passes only if the sanitizer catches the broken build of the RCU core:
# $1 is tests/rcu/negative_control linked against the core with grace periods
# skipped. Each scenario must fail with a ThreadSanitizer report.
set -u
binary=$1
caught=0
for scenario in synchronize retire; do
  output=$("$binary" "$scenario" 2>&1)
  rc=$?
  if [[ $rc -ne 0 ]] && grep -qE "WARNING: ThreadSanitizer: (data race|heap-use-after-free)|AddressSanitizer: heap-use-after-free" <<<"$output"; then
    echo "negative control ($scenario): caught as expected (exit $rc):"
    grep -m1 -E "WARNING: ThreadSanitizer|AddressSanitizer" <<<"$output"
    caught=$((caught + 1))
  else
    echo "negative control ($scenario): NOT caught (exit $rc). The sanitizer annotations"
    echo "hide a real missing grace period, or this is not a sanitizer build. Output:"
    echo "$output"
  fi
done
[[ $caught -eq 2 ]]
