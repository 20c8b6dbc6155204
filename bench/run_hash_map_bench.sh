#!/usr/bin/env bash
# bench/run_hash_map_bench.sh: rcu::HashMap against its peers, 5 repetitions,
# medians, then a compact table of ratios (rcu::HashMap / each peer).
#
# Runs //bench:hash_map_bench (see bench/hash_map_bench.cc for the maps and
# scenarios) with
#   --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
# which prints each benchmark's mean, median, stddev and cv; the tables at the
# end are computed from the medians of this run, once per wall-clock second
# and once per CPU second of the measured threads. Nothing is hard-coded.
# Takes about 5 to 10 minutes on 2 cores (each 2^20-entry map is prefilled
# once per benchmark and kept across its repetitions).
#
#   tools/bazel run -c opt //bench:run_hash_map_bench
#   bench/run_hash_map_bench.sh [Google Benchmark flags...]
#       e.g. --benchmark_filter=a_lookup   --benchmark_out=results.json
#   (run from the workspace root it builds first; BAZEL=... and
#    BAZEL_STARTUP_OPTS="--output_base=..." pick the Bazel used)
#
# Absolute rates drift on a shared machine; compare the ratios, which come
# from peers measured minutes apart in the same run. Repeat the run when the
# machine was busy (the cv columns show it).
set -euo pipefail

die() { echo "run_hash_map_bench: $*" >&2; exit 1; }

# bench_binary() comes from bench/bench_binary.sh, next to this script or in
# its Bazel runfiles.
for dir in "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench" "$0.runfiles/rcu_containers/bench" \
    "$(dirname "$0")"; do
  # shellcheck source=bench/bench_binary.sh
  [[ -f "$dir/bench_binary.sh" ]] && { source "$dir/bench_binary.sh"; break; }
done
declare -F bench_binary >/dev/null || die "bench/bench_binary.sh not found"
binary=$(bench_binary hash_map_bench)

echo "run_hash_map_bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "$binary" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true "$@"
