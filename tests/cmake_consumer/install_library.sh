# Sourced by tests/cmake_consumer/run.sh and tests/pkgconfig_consumer/run.sh:
# configures, builds and installs rcu_containers (the libraries only, no
# tests) into $RCU_CMAKE_BUILD_DIR/prefix, or into a fresh temporary build
# directory that cleanup_library_build removes. Sets RCU_PREFIX.

install_library() {
  local root=$1
  if [[ -n "${RCU_CMAKE_BUILD_DIR:-}" ]]; then
    library_build=$RCU_CMAKE_BUILD_DIR
    remove_library_build=0
  else
    library_build=$(mktemp -d /tmp/rcu_cmake_library.XXXXXX)
    remove_library_build=1
  fi
  RCU_PREFIX=$library_build/prefix
  mkdir -p "$library_build"
  echo "install_library: building rcu_containers in $library_build"
  local log=$library_build/install_library.log
  if ! {
    cmake -S "$root" -B "$library_build" -DRCU_CONTAINERS_BUILD_TESTS=OFF \
      -DRCU_CONTAINERS_WERROR=ON -DCMAKE_INSTALL_PREFIX="$RCU_PREFIX" &&
      cmake --build "$library_build" -j "${RCU_CMAKE_JOBS:-2}" &&
      cmake --install "$library_build"
  } >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "install_library: building or installing rcu_containers FAILED (log: $log)"
    return 1
  fi
  grep -i "warning" "$log" || true
}

cleanup_library_build() {
  if [[ "${remove_library_build:-0}" == 1 ]]; then rm -rf "$library_build"; fi
}
