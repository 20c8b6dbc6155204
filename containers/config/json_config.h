// containers/config/json_config.h: JSON configuration files, parsed with
// nlohmann-json, hot-reloaded by rcu::ConfigWatcher (config_watcher.h).
//
//   struct Config {
//     std::string host = "localhost";
//     int port = 80;
//   };
//   // Any nlohmann-json conversion works; this one allows missing fields.
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, host, port)
//
//   auto watcher = rcu::WatchJsonConfig<Config>("/etc/app/config.json");
//   if (!watcher.ok()) return watcher.status();
//   auto config = (*watcher)->Load();          // any thread, never blocks
//
// The file must parse as JSON and convert to T with `json.get<T>()`, that is
// through a `from_json` found by ADL or an `adl_serializer<T>`; T =
// nlohmann::json takes any JSON document as is. Errors say where:
//
//   config file /etc/app/config.json: JSON parse error at line 3, column 1:
//   syntax error while parsing object - unexpected end of input; expected '}'
//
// A document whose arrays and objects nest deeper than kMaxConfigDepth is
// rejected before it is parsed: nlohmann-json copies and compares
// recursively, so such a document could overflow the stack of whoever copies
// it.
//
// Options (a validation hook, timings, a snapshot to publish into) are those
// of rcu::ConfigWatcher<T>::Options. JsonParser<T>() is the parser alone, for
// ConfigWatcher<T>::Create() or for tests.
#ifndef CONTAINERS_CONFIG_JSON_CONFIG_H_
#define CONTAINERS_CONFIG_JSON_CONFIG_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "containers/config/config_watcher.h"

namespace rcu {

struct JsonParseOptions {
  // Accept /* */ and // comments.
  bool allow_comments = false;
};

namespace internal {

// nlohmann-json's what() without its "[json.exception.parse_error.101] " tag.
inline absl::string_view WithoutJsonTag(absl::string_view what) {
  if (!what.empty() && what.front() == '[') {
    const absl::string_view::size_type end = what.find("] ");
    if (end != absl::string_view::npos) what.remove_prefix(end + 2);
  }
  return what;
}

// Whether arrays and objects in `text` nest deeper than `limit`, found by a
// scan that skips strings (and comments, if allowed) without building
// anything. Malformed text is left to the parser to report.
inline bool JsonDeeperThan(std::string_view text, bool comments, int limit) {
  int depth = 0;
  for (std::string_view::size_type i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
    } else if (comments && c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      i = text.find('\n', i);
      if (i == std::string_view::npos) break;
    } else if (comments && c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      i = text.find("*/", i + 2);
      if (i == std::string_view::npos) break;
      ++i;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace internal

// Parses JSON text into a T (see the file comment). Never throws.
template <typename T>
absl::StatusOr<T> ParseJson(std::string_view text, const JsonParseOptions& options = {}) {
  if (absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())).empty()) {
    return absl::InvalidArgumentError("JSON parse error: the file is empty");
  }
  if (internal::JsonDeeperThan(text, options.allow_comments, kMaxConfigDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nested deeper than ", kMaxConfigDepth, " arrays and objects"));
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                                 /*allow_exceptions=*/true, options.allow_comments);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("JSON ", internal::WithoutJsonTag(e.what())));
  }
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    return json;
  } else {
    try {
      return json.get<T>();
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON does not fit the config type: ", internal::WithoutJsonTag(e.what())));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("JSON does not fit the config type: ", e.what()));
    }
  }
}

// A ConfigWatcher<T>::Parser for JSON.
template <typename T>
typename ConfigWatcher<T>::Parser JsonParser(JsonParseOptions options = {}) {
  return [options](std::string_view text) { return ParseJson<T>(text, options); };
}

// Watches a JSON file: ConfigWatcher<T>::Create(path, JsonParser<T>(json),
// options).
template <typename T>
absl::StatusOr<std::unique_ptr<ConfigWatcher<T>>> WatchJsonConfig(
    std::string path, typename ConfigWatcher<T>::Options options = {}, JsonParseOptions json = {}) {
  return ConfigWatcher<T>::Create(std::move(path), JsonParser<T>(json), std::move(options));
}

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_JSON_CONFIG_H_
