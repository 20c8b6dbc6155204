// Compiled (not linked: see std_types_abseil.bzl) against an Abseil whose
// absl::string_view is std::string_view, as upstream's is under C++17. Uses
// the string keys of rcu::HashMap every way its transparent hash and
// equality (containers/internal/hash_map_hash.h) take them.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "containers/hash_map.h"

static_assert(std::is_same_v<absl::string_view, std::string_view>,
              "this workspace must see an Abseil with ABSL_USES_STD_STRING_VIEW");

std::size_t LookUpEveryWay(const rcu::HashMap<std::string, int>& map) {
  const std::string key = "http";
  std::size_t found = 0;
  found += map.contains(key);
  found += map.contains(std::string_view(key));
  found += map.contains(absl::string_view(key));
  found += map.contains("http");
  found += map.count(std::string_view("https"));
  found += map.find(std::string_view(key)) != map.end();
  std::optional<int> port = map.get(std::string_view(key));
  return found + (port.has_value() ? 1 : 0);
}

std::size_t ViewKeys(rcu::HashMap<std::string_view, int>& map) {
  map.insert_or_assign(std::string_view("ftp"), 21);
  map.insert_or_assign(absl::string_view("ssh"), 22);
  return map.erase(std::string("ftp")) + map.erase("ssh") + map.contains(std::string("x"));
}

std::size_t Write(rcu::HashMap<std::string, int>& map) {
  map.insert({"http", 80});
  map.insert_or_assign("http", 8080);
  return map.erase(std::string_view("http")) + map.erase(absl::string_view("https"));
}
