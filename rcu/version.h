// rcu/version.h: which release of rcu_containers you are compiling against.
//
//   #include "rcu/version.h"
//
//   #if RCU_CONTAINERS_VERSION >= RCU_CONTAINERS_MAKE_VERSION(0, 5, 0)
//   // rcu::Domain exists
//   #endif
//
//   std::printf("rcu_containers %s\n", RCU_CONTAINERS_VERSION_STRING);
//
// The version follows CHANGELOG.md. While the major version is 0, a minor
// release may change the API; each such change is listed there. The CMake
// package (`find_package(rcu_containers 0.5)`) and the pkg-config module
// (`pkg-config --modversion rcu_containers`) report the same version, read
// from this file when the library is configured.
#ifndef RCU_VERSION_H_
#define RCU_VERSION_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#define RCU_CONTAINERS_VERSION_MAJOR 0
#define RCU_CONTAINERS_VERSION_MINOR 5
#define RCU_CONTAINERS_VERSION_PATCH 0
#define RCU_CONTAINERS_VERSION_STRING "0.5.0"

// One integer that orders releases: MAJOR * 1000000 + MINOR * 1000 + PATCH.
#define RCU_CONTAINERS_MAKE_VERSION(major, minor, patch) ((major)*1000000 + (minor)*1000 + (patch))
#define RCU_CONTAINERS_VERSION                                                            \
  RCU_CONTAINERS_MAKE_VERSION(RCU_CONTAINERS_VERSION_MAJOR, RCU_CONTAINERS_VERSION_MINOR, \
                              RCU_CONTAINERS_VERSION_PATCH)

#endif  // RCU_VERSION_H_
