#!/usr/bin/env bash
# A consumer that forgets --cxxopt=-std=c++17 must be told so by the first
# error of every compilation, not by "'clamp' is not a member of 'std'" from
# deep inside the library (rcu/internal/cxx17_check.h).
#
# Builds the consumer's program and every library target in this workspace
# with Bazel's default standard put back (-std=c++0x after the .bazelrc's
# -std=c++17: the last one wins), with --keep_going so that every
# compilation runs, in an output directory of its own (--platform_suffix) so
# the normal build's outputs are left alone. Passes if the build fails, at
# least one compilation failed, and the first error of each failed
# compilation names the flag.
#
#   tests/consumer/missing_cxx17_test.sh    # BAZEL=/usr/bin/bazel-4 by default
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bazel=${BAZEL:-/usr/bin/bazel-4}
log=$(mktemp /tmp/rcu_missing_cxx17.XXXXXX)

"$bazel" build --keep_going --platform_suffix=nocxx17 --cxxopt=-std=c++0x \
  //:consumer_demo @rcu_containers//rcu @rcu_containers//containers/... >"$log" 2>&1
rc=$?
if [[ $rc -eq 0 ]]; then
  echo "missing_cxx17_test: FAILED: the build without C++17 succeeded (log: $log)"
  exit 1
fi

# Each failed compilation is reported as "ERROR: <BUILD>:<l>:<c>: Compiling
# <file> failed: ..." followed by the compiler's output; the first line of
# that output with "error" in it is the first error.
awk '
  /^ERROR: .*: Compiling .* failed/ {
    if (file != "") { print file "\t" first }
    file = $0; sub(/^.*: Compiling /, "", file); sub(/ failed.*$/, "", file)
    first = ""
    next
  }
  /^(ERROR|INFO|FAILED|Target)/ { if (file != "") { print file "\t" first; file = "" } next }
  file != "" && first == "" && /: (fatal )?error: / { first = $0 }
  END { if (file != "") print file "\t" first }
' "$log" >"$log.first"

failed=$(wc -l <"$log.first")
bad=$(grep -cv -- '--cxxopt=-std=c++17' "$log.first")
echo "missing_cxx17_test: $failed compilations failed without C++17; first errors:"
cut -f2 "$log.first" | sort | uniq -c | sed 's/^/  /' | cut -c1-220
if [[ $failed -eq 0 ]]; then
  echo "missing_cxx17_test: FAILED: no compilation failed, but the build did (log: $log)"
  exit 1
fi
if [[ $bad -ne 0 ]]; then
  echo "missing_cxx17_test: FAILED: $bad compilations did not fail first with the C++17 message:"
  grep -v -- '--cxxopt=-std=c++17' "$log.first" | cut -c1-300
  echo "(log: $log)"
  exit 1
fi
echo "missing_cxx17_test: PASSED"
rm -f "$log" "$log.first"
