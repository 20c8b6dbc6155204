#!/usr/bin/env bash
# Runs BINARY once per MODE (once with no argument if none is given), each
# within 120 s; passes if every run's last line says PASS.
#
#   run_modes.sh BINARY [MODE...]
set -u
binary=$1
shift
modes=("$@")
[[ ${#modes[@]} -eq 0 ]] && modes=("")
dir=$(dirname "$0")
bad=0
for mode in "${modes[@]}"; do
  "$dir/run.sh" 1 120 pass "$binary" ${mode:+"$mode"} || bad=1
done
exit $bad
