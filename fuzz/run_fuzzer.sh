#!/usr/bin/env bash
# Fuzzes one target (argument 1, built by --config=fuzz) for
# $RCU_FUZZ_SECONDS seconds (default 60), starting from its seed corpus (the
# remaining arguments: files). New inputs go to a scratch directory, never
# into the repository's corpus. A crash, leak, timeout or failed check fails
# the test; the input that caused it is printed (libFuzzer's Base64 line)
# and saved among the test's outputs (bazel-testlogs/fuzz/<name>_run/
# test.outputs/outputs.zip), to be added to the corpus as a regression seed
# once understood.
set -uo pipefail
fuzzer=$1
shift
seconds=${RCU_FUZZ_SECONDS:-60}
work=${TEST_TMPDIR:-$(mktemp -d)}/corpus
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-$(mktemp -d)}
mkdir -p "$work" "$artifacts"
seeds=$(mktemp -d "${TEST_TMPDIR:-/tmp}/seeds.XXXXXX")
cp "$@" "$seeds"/ 2>/dev/null || true
echo "fuzzing $(basename "$fuzzer") for ${seconds} s from $(ls "$seeds" | wc -l) seeds"
"$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" 2>&1 |
  grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)' | tail -n 120
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]]; then
  echo "FAILED: $(basename "$fuzzer") exited with status $status; reproducer(s):"
  ls -l "$artifacts"
  exit 1
fi
echo "PASSED: no failure in ${seconds} s"
