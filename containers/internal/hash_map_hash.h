// Internal: the default hash and equality of rcu::HashMap, and how the map
// mixes the hashes it is given.
//
// absl::Hash is seeded per process, so collisions cannot be planned in
// advance (hash flooding). For string-like keys both functors are
// transparent: std::string, std::string_view, absl::string_view and
// const char* hash alike and compare with each other, so lookups by
// std::string_view need no temporary std::string.
//
// Mixing: the map takes its bucket from the low bits of a hash and its
// writer stripe from the lowest five, and iterates in the order of the
// reversed hash. Identity hashes (std::hash of integers and pointers in
// libstdc++) of aligned IDs or pointers have constant low bits, so unmixed
// they would share one stripe and a few buckets. The map therefore mixes
// every hash it is given, as Abseil mixes a value into its hash state: one
// 64x64->128-bit multiply by a constant, high and low halves folded with
// xor, so that every input bit reaches the low bits. Hashes already
// avalanched are left alone: absl::Hash (whose last step is that mix), the
// string hash below, and any hash functor that declares
// `using is_avalanching = std::true_type;` (Boost.Unordered's convention).
#ifndef CONTAINERS_INTERNAL_HASH_MAP_HASH_H_
#define CONTAINERS_INTERNAL_HASH_MAP_HASH_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/base/config.h"  // ABSL_USES_STD_STRING_VIEW
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace rcu {
namespace internal {

// Hashes every string-like type as an absl::string_view, so equal strings
// hash equally whatever their type. Debian's absl::string_view is a class of
// its own; an Abseil built with ABSL_OPTION_USE_STD_STRING_VIEW (upstream's
// default under C++17) makes it std::string_view, and then the overloads for
// std::string_view would be the same functions twice.
struct StringHash {
  using is_transparent = void;
  using is_avalanching = std::true_type;  // absl::Hash underneath

  std::size_t operator()(absl::string_view s) const { return absl::Hash<absl::string_view>()(s); }
#ifndef ABSL_USES_STD_STRING_VIEW
  std::size_t operator()(std::string_view s) const {
    return (*this)(absl::string_view(s.data(), s.size()));
  }
#endif
  std::size_t operator()(const std::string& s) const {
    return (*this)(absl::string_view(s.data(), s.size()));
  }
  std::size_t operator()(const char* s) const { return (*this)(absl::string_view(s)); }
};

struct StringEq {
  using is_transparent = void;

#ifndef ABSL_USES_STD_STRING_VIEW
  static std::string_view View(absl::string_view s) { return {s.data(), s.size()}; }
#endif
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

// True if Hash's results need no further mixing (see the file comment).
template <typename Hash, typename = void>
struct HashIsAvalanching : std::false_type {};
template <typename Hash>
struct HashIsAvalanching<Hash, std::void_t<typename Hash::is_avalanching>>
    : std::bool_constant<!std::is_same_v<typename Hash::is_avalanching, std::false_type>> {};
template <typename T>
struct HashIsAvalanching<absl::Hash<T>> : std::true_type {};

// Folds the 128-bit product of `h` and an odd constant (2^64 / golden
// ratio): every bit of `h` moves the low bits. Not a bijection, but two
// hashes collide after it no more often than at random.
inline std::size_t MixHash(std::size_t h) {
  static_assert(sizeof(std::size_t) == 8, "64-bit size_t");
  const unsigned __int128 product = static_cast<unsigned __int128>(h) * 0x9e3779b97f4a7c15ULL;
  return static_cast<std::size_t>(product) ^ static_cast<std::size_t>(product >> 64);
}

// The hash the map uses for a key: Hash's, mixed unless it avalanches.
template <typename Hash>
inline std::size_t MixedHash(std::size_t h) {
  if constexpr (HashIsAvalanching<Hash>::value) {
    return h;
  } else {
    return MixHash(h);
  }
}

// The type lookups take: any type if hash and equality are transparent,
// otherwise the key type itself.
template <typename K, typename Hash, typename Eq, typename Lookup>
using LookupKey = std::conditional_t<IsTransparent<Hash, Eq>::value, Lookup, K>;

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_INTERNAL_HASH_MAP_HASH_H_
