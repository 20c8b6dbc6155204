# bench/bench_binary.sh: sourced by the benchmark scripts in bench/ to find
# the binary each one drives.
#
#   die() { echo "my_script: $*" >&2; exit 1; }
#   source .../bench_binary.sh
#   binary=$(bench_binary read_side_loop)
#
# bench_binary NAME prints the path of //bench:NAME: the copy in the calling
# script's Bazel runfiles (under `bazel run`, or a script run from
# bazel-bin), else one it builds with -c opt in the workspace the script
# sits in (BAZEL=... and BAZEL_STARTUP_OPTS="--output_base=..." pick the
# Bazel used; --symlink_prefix=/ leaves the workspace's bazel-* links
# alone). It reports failures through the caller's die().
#
# shellcheck shell=bash

bench_binary() {
  local name=$1 candidate
  for candidate in \
      "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench/$name" \
      "$0.runfiles/rcu_containers/bench/$name" \
      "$(dirname "$0")/$name"; do
    if [[ -x "$candidate" && ! -d "$candidate" ]]; then
      echo "$candidate"
      return
    fi
  done
  local root bazel bin_dir
  root=$(cd "$(dirname "$0")/.." && pwd)
  bazel=${BAZEL:-$root/tools/bazel}
  # shellcheck disable=SC2086  # startup options are words
  (cd "$root" && "$bazel" ${BAZEL_STARTUP_OPTS:-} build -c opt --symlink_prefix=/ \
    "//bench:$name") >&2 ||
    die "building //bench:$name failed"
  # shellcheck disable=SC2086
  bin_dir=$(cd "$root" && "$bazel" ${BAZEL_STARTUP_OPTS:-} info -c opt bazel-bin 2>/dev/null)
  [[ -x "$bin_dir/bench/$name" ]] || die "no $bin_dir/bench/$name after the build"
  echo "$bin_dir/bench/$name"
}
