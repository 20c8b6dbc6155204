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
// quietly fall back to its default. So is a document with no keys at all
// (only comments: a generator that failed after its header, settings all
// commented out). Set Options::allow_empty_file if an empty file is a valid
// config for you (WatchTomlConfig() passes it on as
// TomlParseOptions::allow_empty_document).
//
// A document nested deeper than kMaxConfigDepth tables and arrays (counting
// the top-level table) is rejected: toml++ limits inline nesting itself, but
// not dotted keys or table headers (`[a.b.c...]`), and a 40 KB file could
// otherwise make a table whose recursive destruction, copy or walk overflows
// a thread's stack.
//
// Options (a validation hook, timings, a snapshot to publish into) are those
// of rcu::ConfigWatcher<T>::Options. TomlParser<T>() is the parser alone.
// toml++ must be built with exceptions (its default).
#ifndef CONTAINERS_CONFIG_TOML_CONFIG_H_
#define CONTAINERS_CONFIG_TOML_CONFIG_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <algorithm>
#include <cctype>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

struct TomlParseOptions {
  // Accept a document without a single key (empty, or only comments).
  bool allow_empty_document = false;
};

namespace internal {

// The deepest nesting of tables and arrays in `root` (1 for a table of plain
// values), measured without recursion; stops counting past `limit`.
inline int TomlDepth(const toml::table& root, int limit) {
  std::vector<std::pair<const toml::node*, int>> pending = {{&root, 1}};
  int deepest = 0;
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    deepest = std::max(deepest, depth);
    if (deepest > limit) break;
    if (const toml::table* table = node->as_table()) {
      for (const auto& entry : *table) {
        if (entry.second.is_table() || entry.second.is_array()) {
          pending.emplace_back(&entry.second, depth + 1);
        }
      }
    } else if (const toml::array* array = node->as_array()) {
      for (const toml::node& element : *array) {
        if (element.is_table() || element.is_array()) pending.emplace_back(&element, depth + 1);
      }
    }
  }
  return deepest;
}

// Whether `text` may nest tables and arrays deeper than `limit`, by a scan
// that builds nothing: toml++ itself recurses over the nesting it builds,
// after parsing, so a document millions of levels deep (a megabyte of
// `a.b.b...`) would overflow the stack inside toml::parse(). The estimate
// never falls short of the real depth and is at most about twice it (each
// inline table is counted with its key); TomlDepth() then measures exactly.
inline bool TomlMayNestDeeperThan(std::string_view text, int limit) {
  std::vector<int> open;  // for each open inline table or array: the levels it added
  int added = 0;          // the sum of `open`
  int header = 0;         // keys in the current [table] header
  bool in_header = false;
  int chain = 0;      // keys so far in the dotted key (or value) being read
  int key_chain = 0;  // keys of the key whose value is being read
  bool after_dot = false;
  bool line_start = true;
  const std::string_view::size_type n = text.size();
  for (std::string_view::size_type i = 0; i < n;) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    const bool first_on_line = line_start;
    line_start = c == '\n';
    bool segment = false;
    if (c == '#') {
      i = text.find('\n', i);
      if (i == std::string_view::npos) break;
      continue;
    } else if (c == '"' || c == '\'') {
      const std::string_view quote =
          text.substr(i, 3) == std::string(3, c) ? text.substr(i, 3) : text.substr(i, 1);
      std::string_view::size_type j = i + quote.size();
      while (j < n && text.compare(j, quote.size(), quote) != 0)
        j += c == '"' && text[j] == '\\' ? 2 : 1;
      i = std::min(n, j + quote.size());
      segment = true;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+') {
      while (i < n && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_' ||
                       text[i] == '-' || text[i] == '+')) {
        ++i;
      }
      segment = true;
    } else if (c == '.') {
      after_dot = true;
      ++i;
      continue;
    } else if (c == '[' && first_on_line && open.empty()) {
      in_header = true;  // [table] or [[array of tables]]: keys from the top
      i += text.compare(i, 2, "[[") == 0 ? 2 : 1;
    } else if (c == ']' && in_header) {
      in_header = false;
      header = chain;
      ++i;
    } else if ((c == '[' || c == '{') && !in_header) {
      open.push_back(key_chain + 1);
      added += open.back();
      key_chain = 0;
      ++i;
    } else if ((c == ']' || c == '}') && !open.empty()) {
      added -= open.back();
      open.pop_back();
      ++i;
    } else {
      if (c == '=') key_chain = chain;
      ++i;
    }
    if (segment) {
      chain = after_dot ? chain + 1 : 1;
      if ((in_header ? 0 : header) + added + chain > limit) return true;
    } else if (!in_header || c != '[') {
      chain = 0;
    }
    after_dot = false;
  }
  return false;
}

}  // namespace internal

// Parses TOML text into a table. Never throws.
inline absl::StatusOr<toml::table> ParseToml(std::string_view text,
                                             const TomlParseOptions& options = {}) {
  // Checked twice: roughly before parsing (see TomlMayNestDeeperThan), then
  // exactly.
  const std::string deep_error =
      absl::StrCat("TOML nested deeper than ", kMaxConfigDepth,
                   " tables and arrays (dotted keys or table headers too long?)");
  if (internal::TomlMayNestDeeperThan(text, 2 * kMaxConfigDepth + 2)) {
    return absl::InvalidArgumentError(deep_error);
  }
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    const toml::source_position begin = e.source().begin;
    const std::string_view description = e.description();
    return absl::InvalidArgumentError(
        absl::StrCat("TOML parse error at line ", begin.line, ", column ", begin.column, ": ",
                     absl::string_view(description.data(), description.size())));
  }
  if (internal::TomlDepth(table, kMaxConfigDepth) > kMaxConfigDepth) {
    return absl::InvalidArgumentError(deep_error);
  }
  if (table.empty() && !options.allow_empty_document) {
    return absl::InvalidArgumentError(
        "TOML document has no keys (only comments?); an empty document is taken as a mistake "
        "unless WatchOptions::allow_empty_file is set");
  }
  return table;
}

// Parses TOML text and converts it with `convert`. Never throws: an exception
// from `convert` becomes an InvalidArgument error.
template <typename T>
absl::StatusOr<T> ParseToml(std::string_view text, const TomlConverter<T>& convert,
                            const TomlParseOptions& options = {}) {
  absl::StatusOr<toml::table> table = ParseToml(text, options);
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
typename ConfigWatcher<T>::Parser TomlParser(TomlConverter<T> convert,
                                             TomlParseOptions options = {}) {
  return [convert = std::move(convert), options](std::string_view text) {
    return ParseToml<T>(text, convert, options);
  };
}
inline ConfigWatcher<toml::table>::Parser TomlParser(TomlParseOptions options = {}) {
  return [options](std::string_view text) { return ParseToml(text, options); };
}

// Watches a TOML file, converting each version with `convert`.
template <typename T>
absl::StatusOr<std::unique_ptr<ConfigWatcher<T>>> WatchTomlConfig(
    std::string path, TomlConverter<T> convert, typename ConfigWatcher<T>::Options options = {}) {
  TomlParseOptions toml;
  toml.allow_empty_document = options.allow_empty_file;
  return ConfigWatcher<T>::Create(std::move(path), TomlParser<T>(std::move(convert), toml),
                                  std::move(options));
}

// Watches a TOML file, publishing the whole document.
inline absl::StatusOr<std::unique_ptr<ConfigWatcher<toml::table>>> WatchTomlConfig(
    std::string path, ConfigWatcher<toml::table>::Options options = {}) {
  TomlParseOptions toml;
  toml.allow_empty_document = options.allow_empty_file;
  return ConfigWatcher<toml::table>::Create(std::move(path), TomlParser(toml), std::move(options));
}

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_TOML_CONFIG_H_
