#!/usr/bin/env bash
# Installs rcu_containers with CMake into a temporary prefix, then builds the
# program in this directory with a plain g++ command line from pkg-config
# (the one README.md gives) and runs it. Exits 0 only if every step works
# and the program checks out.
#
#   tests/pkgconfig_consumer/run.sh
#
# Shares RCU_CMAKE_BUILD_DIR and RCU_CMAKE_JOBS with tests/cmake_consumer/run.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=tests/cmake_consumer/install_library.sh
source "$root/tests/cmake_consumer/install_library.sh"

out=$(mktemp -d /tmp/rcu_pkgconfig_consumer.XXXXXX)
trap 'rm -rf "$out"; cleanup_library_build' EXIT

install_library "$root"

libdir=$(find "$RCU_PREFIX" -name rcu_containers.pc -printf '%h\n' | head -n 1)
[[ -n "$libdir" ]] || { echo "pkgconfig_consumer: no rcu_containers.pc under $RCU_PREFIX"; exit 1; }
export PKG_CONFIG_PATH="$libdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
version=$(pkg-config --modversion rcu_containers)
flags=$(pkg-config --cflags --libs rcu_containers nlohmann_json)
echo "pkgconfig_consumer: g++ -std=c++17 consumer.cc $flags"
# shellcheck disable=SC2086  # the flags are words
g++ -std=c++17 -DEXPECTED_VERSION="\"$version\"" "$here/consumer.cc" -o "$out/consumer" $flags ||
  { echo "pkgconfig_consumer: build FAILED"; exit 1; }
TMPDIR="$out" "$out/consumer"
