# liburcu (memb flavor) through pkg-config, since liburcu ships no CMake
# config, and <liburcu_config/version.h>, generated the way Bazel's
# system_liburcu repository rule (bazel/internal/system_libs.bzl) writes it:
# the installed version, and whether rcu/internal/liburcu_checked_versions.txt
# lists it. rcu/internal/urcu.h runs the inline read side only on a listed
# version; any other builds in call mode, and this file says so.
#
# In:  RCU_CONTAINERS_LGPL_INLINE (the option), RCU_CONTAINERS_SANITIZER.
# Out: PkgConfig::rcu_containers_LIBURCU (imported target),
#      rcu_containers_LIBURCU_VERSION (as pkg-config reports it),
#      RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE (0 or 1, the RCU_LGPL_INLINE define),
#      RCU_CONTAINERS_LIBURCU_REQUIRES (the .pc file's Requires entry),
#      RCU_CONTAINERS_GENERATED_INCLUDE_DIR (holds liburcu_config/version.h).

find_package(PkgConfig REQUIRED)
pkg_check_modules(rcu_containers_LIBURCU REQUIRED IMPORTED_TARGET liburcu-memb)

set(_rcu_urcu_version "${rcu_containers_LIBURCU_VERSION}")
if(_rcu_urcu_version MATCHES "^([0-9]+)\\.([0-9]+)(\\.([0-9]+))?")
  set(RCU_LIBURCU_VERSION_MAJOR ${CMAKE_MATCH_1})
  set(RCU_LIBURCU_VERSION_MINOR ${CMAKE_MATCH_2})
  if(CMAKE_MATCH_4 STREQUAL "")
    set(RCU_LIBURCU_VERSION_PATCH 0)
  else()
    set(RCU_LIBURCU_VERSION_PATCH ${CMAKE_MATCH_4})
  endif()
else()
  # Like the Bazel rule: a version it cannot read is 0.0.0, which no list has.
  set(RCU_LIBURCU_VERSION_MAJOR 0)
  set(RCU_LIBURCU_VERSION_MINOR 0)
  set(RCU_LIBURCU_VERSION_PATCH 0)
endif()
set(_rcu_urcu_triple
    "${RCU_LIBURCU_VERSION_MAJOR}.${RCU_LIBURCU_VERSION_MINOR}.${RCU_LIBURCU_VERSION_PATCH}")

# The checked versions: one MAJOR.MINOR.PATCH per line, '#' starts a comment.
set(_rcu_checked_file "${PROJECT_SOURCE_DIR}/rcu/internal/liburcu_checked_versions.txt")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_rcu_checked_file}")
file(STRINGS "${_rcu_checked_file}" _rcu_checked_lines)
set(_rcu_checked_versions "")
foreach(_line IN LISTS _rcu_checked_lines)
  string(STRIP "${_line}" _line)
  if(NOT _line STREQUAL "" AND NOT _line MATCHES "^#")
    list(APPEND _rcu_checked_versions "${_line}")
  endif()
endforeach()

if(_rcu_urcu_triple IN_LIST _rcu_checked_versions)
  set(RCU_LIBURCU_LAYOUT_CHECKED 1)
else()
  set(RCU_LIBURCU_LAYOUT_CHECKED 0)
endif()

set(RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE 0)
if(RCU_CONTAINERS_LGPL_INLINE)
  if(RCU_LIBURCU_LAYOUT_CHECKED)
    set(RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE 1)
  else()
    string(REPLACE ";" ", " _rcu_checked_text "${_rcu_checked_versions}")
    if(_rcu_checked_text STREQUAL "")
      set(_rcu_checked_text "none")
    endif()
    message(WARNING
      "rcu_containers: liburcu ${rcu_containers_LIBURCU_VERSION} has not been checked "
      "against the inline read side (checked: ${_rcu_checked_text}). Building in call "
      "mode (RCU_LGPL_INLINE=0, as with -DRCU_CONTAINERS_LGPL_INLINE=OFF): correct, but "
      "each read-side section calls into liburcu. See rcu/internal/urcu.h.")
  endif()
endif()

# A library built with the read side inlined has liburcu's layouts compiled
# into it, and so does every consumer that includes its headers: pin the
# exact version, so that a changed liburcu fails to resolve instead of
# running on the wrong layout. Call mode needs only the library's ABI.
if(RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE)
  set(RCU_CONTAINERS_LIBURCU_REQUIRES "liburcu-memb = ${rcu_containers_LIBURCU_VERSION}")
else()
  set(RCU_CONTAINERS_LIBURCU_REQUIRES "liburcu-memb")
endif()

if(RCU_CONTAINERS_SANITIZER STREQUAL "thread")
  set(_rcu_read_side "call (ThreadSanitizer builds always call)")
elseif(RCU_CONTAINERS_EFFECTIVE_LGPL_INLINE)
  set(_rcu_read_side "inline (liburcu's LGPL layouts; see README.md, License)")
else()
  set(_rcu_read_side "call")
endif()
message(STATUS "rcu_containers: liburcu ${rcu_containers_LIBURCU_VERSION}, "
               "read side: ${_rcu_read_side}")

set(RCU_CONTAINERS_GENERATED_INCLUDE_DIR "${PROJECT_BINARY_DIR}/generated_include")
configure_file("${PROJECT_SOURCE_DIR}/cmake/liburcu_version.h.in"
               "${RCU_CONTAINERS_GENERATED_INCLUDE_DIR}/liburcu_config/version.h" @ONLY)
