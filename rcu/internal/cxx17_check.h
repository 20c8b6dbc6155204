// Internal: stops a build without C++17 at its first line, with a message
// that names the flag to add.
//
// Bazel's default C++ toolchain compiles with -std=c++0x, and a dependency's
// .bazelrc does not apply to the workspace that uses it, so a consumer who
// has not added the flag would otherwise get hundreds of errors from deep
// inside the library ("'clamp' is not a member of 'std'"). Every header and
// source file of rcu_containers includes this one first, before any other
// header (including the standard library's and Abseil's), so that this is
// the first error of every compilation.
#ifndef RCU_INTERNAL_CXX17_CHECK_H_
#define RCU_INTERNAL_CXX17_CHECK_H_

#if !defined(__cplusplus) || __cplusplus < 201703L
#error \
    "rcu_containers needs C++17 or later: build with --cxxopt=-std=c++17 --host_cxxopt=-std=c++17 (add both to your .bazelrc; see 'Using it from another workspace' in rcu_containers' README.md), or -std=c++17 without Bazel."
#endif

#endif  // RCU_INTERNAL_CXX17_CHECK_H_
