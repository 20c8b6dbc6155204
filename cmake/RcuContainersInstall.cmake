# `cmake --install`: headers, libraries, rcu_containersConfig.cmake with
# rcu_containersConfigVersion.cmake, and rcu_containers.pc.
#
# Exports: rcu_containersTargets.cmake (the core, the containers and the
# config watcher), rcu_containersJsonTargets.cmake and
# rcu_containersTomlTargets.cmake (json_config, toml_config). The last two are
# separate so that a consumer without nlohmann-json or toml++ can still find
# the rest: rcu_containersConfig.cmake loads each only when its dependency is
# found, and requires it when the consumer names it as a component.
include(CMakePackageConfigHelpers)

set(_rcu_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/rcu_containers")

# --- Headers ------------------------------------------------------------------

install(DIRECTORY "${PROJECT_SOURCE_DIR}/rcu/"
        DESTINATION "${RCU_CONTAINERS_INSTALL_INCLUDEDIR}/rcu"
        FILES_MATCHING PATTERN "*.h")
set(_rcu_container_excludes
    # Bazel's deprecated forwarding headers (see containers/BUILD).
    PATTERN "config_watcher.h" EXCLUDE
    PATTERN "config_watcher_options.h" EXCLUDE
    PATTERN "json_config.h" EXCLUDE
    PATTERN "toml_config.h" EXCLUDE
    PATTERN "config" EXCLUDE)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/containers/"
        DESTINATION "${RCU_CONTAINERS_INSTALL_INCLUDEDIR}/containers"
        FILES_MATCHING PATTERN "*.h" ${_rcu_container_excludes})
if(RCU_CONTAINERS_CONFIG)
  set(_rcu_config_excludes "")
  if(NOT RCU_CONTAINERS_JSON)
    list(APPEND _rcu_config_excludes PATTERN "json_config.h" EXCLUDE)
  endif()
  if(NOT RCU_CONTAINERS_TOML)
    list(APPEND _rcu_config_excludes PATTERN "toml_config.h" EXCLUDE)
  endif()
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/containers/config/"
          DESTINATION "${RCU_CONTAINERS_INSTALL_INCLUDEDIR}/containers/config"
          FILES_MATCHING PATTERN "*.h" ${_rcu_config_excludes})
endif()
install(FILES "${RCU_CONTAINERS_GENERATED_INCLUDE_DIR}/liburcu_config/version.h"
        DESTINATION "${RCU_CONTAINERS_INSTALL_INCLUDEDIR}/liburcu_config")
if(RCU_CONTAINERS_SANITIZER STREQUAL "thread" AND RCU_CONTAINERS_TSAN_DEFAULT_SUPPRESSIONS)
  install(FILES "${PROJECT_SOURCE_DIR}/rcu/internal/tsan_suppressions.cc"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/rcu_containers")
endif()

# --- Libraries and their CMake package ------------------------------------------

set(_rcu_targets
    rcu_containers_rcu
    rcu_containers_snapshot
    rcu_containers_hash_map
    rcu_containers_rcu_list
    rcu_containers_intrusive_rcu_list)
if(RCU_CONTAINERS_CONFIG)
  list(APPEND _rcu_targets rcu_containers_config_watcher)
endif()
install(TARGETS ${_rcu_targets}
        EXPORT rcu_containersTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(EXPORT rcu_containersTargets
        NAMESPACE rcu_containers::
        DESTINATION "${_rcu_cmake_dir}")
if(RCU_CONTAINERS_JSON)
  install(TARGETS rcu_containers_json_config EXPORT rcu_containersJsonTargets)
  install(EXPORT rcu_containersJsonTargets
          NAMESPACE rcu_containers::
          DESTINATION "${_rcu_cmake_dir}")
endif()
if(RCU_CONTAINERS_TOML)
  install(TARGETS rcu_containers_toml_config EXPORT rcu_containersTomlTargets)
  install(EXPORT rcu_containersTomlTargets
          NAMESPACE rcu_containers::
          DESTINATION "${_rcu_cmake_dir}")
endif()

# Values rcu_containersConfig.cmake.in substitutes.
set(RCU_CONTAINERS_CONFIG_BUILT ${RCU_CONTAINERS_CONFIG})
set(RCU_CONTAINERS_JSON_BUILT ${RCU_CONTAINERS_JSON})
set(RCU_CONTAINERS_TOML_BUILT ${RCU_CONTAINERS_TOML})
if(RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE)
  set(RCU_CONTAINERS_LIBURCU_MODULE "liburcu-memb=${rcu_containers_LIBURCU_VERSION}")
  set(RCU_CONTAINERS_LIBURCU_HINT
      ". This rcu_containers was built with liburcu's read side inlined, for exactly "
      "liburcu ${rcu_containers_LIBURCU_VERSION}: rebuild it against the liburcu you have.")
  string(CONCAT RCU_CONTAINERS_LIBURCU_HINT ${RCU_CONTAINERS_LIBURCU_HINT})
else()
  set(RCU_CONTAINERS_LIBURCU_MODULE "liburcu-memb")
  set(RCU_CONTAINERS_LIBURCU_HINT "")
endif()
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/rcu_containersConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/rcu_containersConfig.cmake"
  INSTALL_DESTINATION "${_rcu_cmake_dir}")
# Before 1.0 a minor release may change the API (CHANGELOG.md).
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/rcu_containersConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
          "${PROJECT_BINARY_DIR}/rcu_containersConfig.cmake"
          "${PROJECT_BINARY_DIR}/rcu_containersConfigVersion.cmake"
        DESTINATION "${_rcu_cmake_dir}")

# --- pkg-config -----------------------------------------------------------------

# One module for the compiled libraries; a static build needs them in link
# order, dependents first. json_config.h and toml_config.h are header-only:
# add nlohmann_json or tomlplusplus to the pkg-config line that uses them.
set(_rcu_pc_libs "")
set(_rcu_pc_requires "${RCU_CONTAINERS_LIBURCU_REQUIRES}")
set(_rcu_absl_modules absl_base absl_core_headers absl_symbolize absl_time absl_hash
    absl_strings absl_cleanup absl_any_invocable)
if(RCU_CONTAINERS_CONFIG)
  string(APPEND _rcu_pc_libs " -lrcu_containers_config_watcher")
  list(APPEND _rcu_absl_modules absl_status absl_statusor absl_cord)
endif()
string(APPEND _rcu_pc_libs
       " -lrcu_containers_hash_map -lrcu_containers_snapshot -lrcu_containers_rcu")
foreach(_module IN LISTS _rcu_absl_modules)
  string(APPEND _rcu_pc_requires ", ${_module}")
endforeach()
set(RCU_CONTAINERS_PC_LIBS "${_rcu_pc_libs}")
set(RCU_CONTAINERS_PC_REQUIRES "${_rcu_pc_requires}")
# -DNAME=VALUE of the core's public compile definitions.
set(RCU_CONTAINERS_PC_CFLAGS "-DRCU_LGPL_INLINE=${RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE}")
# Relocatable: the prefix is found from the .pc file's own directory, so that
# `cmake --install build --prefix DIR` (a prefix chosen after configuring)
# yields a working file.
set(_rcu_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
foreach(_var IN ITEMS _rcu_pc_dir CMAKE_INSTALL_LIBDIR RCU_CONTAINERS_INSTALL_INCLUDEDIR)
  if(IS_ABSOLUTE "${${_var}}")
    message(FATAL_ERROR "rcu_containers.pc needs relative install directories, "
                        "not ${_var}=${${_var}}")
  endif()
endforeach()
file(RELATIVE_PATH RCU_CONTAINERS_PC_PREFIX_FROM_PCFILEDIR
     "/${_rcu_pc_dir}" "/")
string(REGEX REPLACE "/$" "" RCU_CONTAINERS_PC_PREFIX_FROM_PCFILEDIR
       "${RCU_CONTAINERS_PC_PREFIX_FROM_PCFILEDIR}")
configure_file("${PROJECT_SOURCE_DIR}/cmake/rcu_containers.pc.in"
               "${PROJECT_BINARY_DIR}/rcu_containers.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/rcu_containers.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
