#!/usr/bin/env bash
# Runs tests/rcu/exit_drain_test.cc's program and checks what it printed: its
# own verdict from a static destructor, then the line printed when the last
# object, retired during static destruction, is reclaimed at the end of exit.
set -u
out=$("$1" 2>&1)
status=$?
echo "$out"
if [[ $status -ne 0 ]]; then
  echo "exit_drain_test.sh: the program exited with status $status"
  exit 1
fi
if ! grep -q "PASSED" <<<"$out"; then
  echo "exit_drain_test.sh: no PASSED verdict"
  exit 1
fi
if [[ "$(tail -n 1 <<<"$out")" != *"the last object was reclaimed at the end of exit"* ]]; then
  echo "exit_drain_test.sh: the object left to the end of exit was not reclaimed last"
  exit 1
fi
echo "exit_drain_test.sh: PASSED"
