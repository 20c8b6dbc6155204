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

binary=""
for candidate in \
    "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench/hash_map_bench" \
    "$0.runfiles/rcu_containers/bench/hash_map_bench" \
    "$(dirname "$0")/hash_map_bench"; do
  if [[ -x "$candidate" && ! -d "$candidate" ]]; then binary=$candidate; break; fi
done
if [[ -z "$binary" ]]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  bazel=${BAZEL:-$root/tools/bazel}
  # shellcheck disable=SC2086  # startup options are words
  # --symlink_prefix=/: leave the workspace's bazel-* links alone.
  (cd "$root" && "$bazel" ${BAZEL_STARTUP_OPTS:-} build -c opt --symlink_prefix=/ \
    //bench:hash_map_bench) >&2 ||
    die "building //bench:hash_map_bench failed"
  # shellcheck disable=SC2086
  bin_dir=$(cd "$root" && "$bazel" ${BAZEL_STARTUP_OPTS:-} info -c opt bazel-bin 2>/dev/null)
  binary=$bin_dir/bench/hash_map_bench
  [[ -x "$binary" ]] || die "no $binary after the build"
fi

echo "run_hash_map_bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "$binary" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true "$@"
