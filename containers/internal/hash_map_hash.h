// Internal: the default hash and equality of rcu::HashMap.
//
// absl::Hash is seeded per process, so collisions cannot be planned in
// advance (hash flooding). For string-like keys both functors are
// transparent: std::string, std::string_view, absl::string_view and
// const char* hash alike and compare with each other, so lookups by
// std::string_view need no temporary std::string.
#ifndef CONTAINERS_INTERNAL_HASH_MAP_HASH_H_
#define CONTAINERS_INTERNAL_HASH_MAP_HASH_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace rcu {
namespace internal {

// Hashes every string-like type as an absl::string_view, so equal strings
// hash equally whatever their type (Debian's absl::string_view is not
// std::string_view).
struct StringHash {
  using is_transparent = void;

  std::size_t operator()(absl::string_view s) const {
    return absl::Hash<absl::string_view>()(s);
  }
  std::size_t operator()(std::string_view s) const {
    return (*this)(absl::string_view(s.data(), s.size()));
  }
  std::size_t operator()(const std::string& s) const {
    return (*this)(absl::string_view(s.data(), s.size()));
  }
  std::size_t operator()(const char* s) const { return (*this)(absl::string_view(s)); }
};

struct StringEq {
  using is_transparent = void;

  static std::string_view View(absl::string_view s) { return {s.data(), s.size()}; }
  static std::string_view View(std::string_view s) { return s; }
  static std::string_view View(const std::string& s) { return s; }
  static std::string_view View(const char* s) { return s; }

  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};

template <typename K>
struct DefaultHashEq {
  using Hash = absl::Hash<K>;
  using Eq = std::equal_to<K>;
};

template <>
struct DefaultHashEq<std::string> {
  using Hash = StringHash;
  using Eq = StringEq;
};

template <>
struct DefaultHashEq<std::string_view> {
  using Hash = StringHash;
  using Eq = StringEq;
};

template <typename Hash, typename Eq, typename = void>
struct IsTransparent : std::false_type {};
template <typename Hash, typename Eq>
struct IsTransparent<Hash, Eq,
                     std::void_t<typename Hash::is_transparent, typename Eq::is_transparent>>
    : std::true_type {};

// The type lookups take: any type if hash and equality are transparent,
// otherwise the key type itself.
template <typename K, typename Hash, typename Eq, typename Lookup>
using LookupKey =
    std::conditional_t<IsTransparent<Hash, Eq>::value, Lookup, K>;

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_HASH_H_
