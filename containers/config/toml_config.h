// containers/config/toml_config.h: TOML configuration files, parsed with
// toml++, hot-reloaded by rcu::ConfigWatcher (config_watcher.h).
//
//   // The whole document, as a toml::table:
//   auto watcher = rcu::WatchTomlConfig("/etc/app/config.toml");
//   auto config = (*watcher)->Load();
//   int port = (*config)["server"]["port"].value_or(80);
//
//   // Or your own type, converted from the table:
//   absl::StatusOr<Config> ToConfig(const toml::table& t) {
//     Config c;
//     c.host = t["server"]["host"].value_or(std::string("localhost"));
//     std::optional<int64_t> port = t["server"]["port"].value<int64_t>();
//     if (!port) return absl::InvalidArgumentError("server.port: missing or not an integer");
//     c.port = static_cast<int>(*port);
//     return c;
//   }
//   auto watcher = rcu::WatchTomlConfig<Config>("/etc/app/config.toml", ToConfig);
//
// Errors say where:
//
//   config file /etc/app/config.toml: TOML parse error at line 2, column 8:
//   expected bare key starting character or string delimiter, saw '='
//
// An empty file (or one of only whitespace) is rejected before it is parsed:
// TOML would read it as an empty table, and every value_or() above would
// quietly fall back to its default. Set Options::allow_empty_file if an empty
// file is a valid config for you.
//
// Options (a validation hook, timings, a snapshot to publish into) are those
// of rcu::ConfigWatcher<T>::Options. TomlParser<T>() is the parser alone.
// toml++ must be built with exceptions (its default).
#ifndef CONTAINERS_CONFIG_TOML_CONFIG_H_
#define CONTAINERS_CONFIG_TOML_CONFIG_H_

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <toml++/toml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "containers/config/config_watcher.h"

#if !TOML_EXCEPTIONS
#error "containers/config/toml_config.h needs toml++ with exceptions (TOML_EXCEPTIONS=1)"
#endif

namespace rcu {

// Turns a parsed TOML document into a T, or says why it cannot.
template <typename T>
using TomlConverter = std::function<absl::StatusOr<T>(const toml::table& document)>;

// Parses TOML text into a table. Never throws.
inline absl::StatusOr<toml::table> ParseToml(std::string_view text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    const toml::source_position begin = e.source().begin;
    const std::string_view description = e.description();
    return absl::InvalidArgumentError(
        absl::StrCat("TOML parse error at line ", begin.line, ", column ", begin.column, ": ",
                     absl::string_view(description.data(), description.size())));
  }
}

// Parses TOML text and converts it with `convert`. Never throws: an exception
// from `convert` becomes an InvalidArgument error.
template <typename T>
absl::StatusOr<T> ParseToml(std::string_view text, const TomlConverter<T>& convert) {
  absl::StatusOr<toml::table> table = ParseToml(text);
  if (!table.ok()) return table.status();
  try {
    return convert(*table);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("TOML does not fit the config type: ", e.what()));
  }
}

// A ConfigWatcher<T>::Parser for TOML.
template <typename T>
typename ConfigWatcher<T>::Parser TomlParser(TomlConverter<T> convert) {
  return [convert = std::move(convert)](std::string_view text) {
    return ParseToml<T>(text, convert);
  };
}
inline ConfigWatcher<toml::table>::Parser TomlParser() {
  return [](std::string_view text) { return ParseToml(text); };
}

// Watches a TOML file, converting each version with `convert`.
template <typename T>
absl::StatusOr<std::unique_ptr<ConfigWatcher<T>>> WatchTomlConfig(
    std::string path, TomlConverter<T> convert, typename ConfigWatcher<T>::Options options = {}) {
  return ConfigWatcher<T>::Create(std::move(path), TomlParser<T>(std::move(convert)),
                                  std::move(options));
}

// Watches a TOML file, publishing the whole document.
inline absl::StatusOr<std::unique_ptr<ConfigWatcher<toml::table>>> WatchTomlConfig(
    std::string path, ConfigWatcher<toml::table>::Options options = {}) {
  return ConfigWatcher<toml::table>::Create(std::move(path), TomlParser(), std::move(options));
}

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_TOML_CONFIG_H_
