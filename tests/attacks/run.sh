#!/usr/bin/env bash
# Runs one of the reproductions in this directory RUNS times, each within
# TIMEOUT seconds, and judges each run:
#   pass       its last line says PASS (and it exits 0)
#   clean      it exits 0 and prints no FAIL and no ORDER line
#   done:MODE  like clean, and it printed "DONE MODE" (exit_modes)
# A run that outlives TIMEOUT is a hang. Passes only if every run passes.
#
#   run.sh RUNS TIMEOUT JUDGE BINARY [ARGS...]
set -u
runs=$1 limit=$2 judge=$3
shift 3
bad=0
for ((i = 1; i <= runs; i++)); do
  out=$(timeout -s KILL "$limit" "$@" 2>&1)
  rc=$?
  verdict=ok
  if [[ $rc -eq 137 ]]; then
    verdict="hung (over $limit s)"
  elif [[ $rc -ne 0 ]]; then
    verdict="exit status $rc"
  else
    case $judge in
      pass) [[ "$(tail -n 1 <<<"$out")" == *PASS* ]] || verdict="no PASS verdict" ;;
      clean) ! grep -qE "FAIL|ORDER" <<<"$out" || verdict="reported a failure" ;;
      done:*)
        if grep -qE "FAIL|ORDER" <<<"$out"; then verdict="reported a failure"
        elif ! grep -q "DONE ${judge#done:}" <<<"$out"; then verdict="did not finish"; fi ;;
      *) echo "run.sh: unknown judge $judge"; exit 2 ;;
    esac
  fi
  echo "run $i of $runs: $* -> $verdict"
  if [[ $verdict != ok ]]; then
    bad=1
    echo "$out" | tail -n 40
  fi
done
exit $bad
