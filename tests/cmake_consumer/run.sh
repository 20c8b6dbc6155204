#!/usr/bin/env bash
# Installs rcu_containers with CMake into a temporary prefix, then configures,
# builds and runs the consumer project in this directory against it, the way
# a user would: find_package(rcu_containers) and rcu_containers:: targets.
# Exits 0 only if every step works and the consumer checks out.
#
#   tests/cmake_consumer/run.sh
#
# RCU_CMAKE_BUILD_DIR: the library's build directory (default: a fresh
# temporary one, removed afterwards). Reused if it exists, so that
# tests/pkgconfig_consumer/run.sh can share one build. The prefix is
# $RCU_CMAKE_BUILD_DIR/prefix. RCU_CMAKE_JOBS: parallel jobs (default 2).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/cmake_consumer/install_library.sh
source "$here/install_library.sh"

consumer_build=$(mktemp -d /tmp/rcu_cmake_consumer.XXXXXX)
trap 'rm -rf "$consumer_build"; cleanup_library_build' EXIT

install_library "$root"

echo "cmake_consumer: building the consumer against $RCU_PREFIX"
# CMAKE_PREFIX_PATH is all it is given: what the library needs (Abseil,
# liburcu via pkg-config, nlohmann-json, toml++) must come from its config.
cmake -S "$here" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$RCU_PREFIX" >"$consumer_build/configure.log" 2>&1 ||
  { cat "$consumer_build/configure.log"; echo "cmake_consumer: configure FAILED"; exit 1; }
cmake --build "$consumer_build" -j "${RCU_CMAKE_JOBS:-2}" >"$consumer_build/build.log" 2>&1 ||
  { cat "$consumer_build/build.log"; echo "cmake_consumer: build FAILED"; exit 1; }
TMPDIR="$consumer_build" "$consumer_build/cmake_consumer"
