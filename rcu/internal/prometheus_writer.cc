#include "rcu/internal/prometheus_writer.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <system_error>

#include "rcu/prometheus.h"

namespace rcu {
namespace internal {
namespace {

bool IsLabelNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::string PrometheusLabelName(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) out += IsLabelNameChar(c) ? c : '_';
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(0, "_");
  if (out.compare(0, 2, "__") == 0) out.insert(0, "x");  // "__" is Prometheus's
  return out;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (RFC
// 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string PrometheusLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size();) {
    // The format is UTF-8, and Prometheus rejects a whole scrape over one
    // bad byte; file paths may hold any bytes. Each byte that does not begin
    // a well-formed sequence becomes U+FFFD.
    const std::size_t n = Utf8SequenceLength(value.substr(i));
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(value.substr(i, n));
      i += n;
      continue;
    }
    const char c = value[i++];
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string PrometheusHelp(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PrometheusValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Plain decimals where they are short (Unix timestamps: 1700000000, not
  // 1.7e+09), the exponent form otherwise; both the shortest that reads back
  // as `value`.
  const double magnitude = std::fabs(value);
  const std::chars_format format = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e16)
                                       ? std::chars_format::fixed
                                       : std::chars_format::general;
  char buffer[128];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value, format);
  if (result.ec != std::errc()) return "NaN";  // cannot happen: 128 bytes hold either form
  return std::string(buffer, result.ptr);
}

std::string PrometheusUserLabels(const PrometheusLabels& labels,
                                 std::initializer_list<std::string_view> reserved) {
  std::set<std::string, std::less<>> own;
  for (std::string_view name : reserved) own.emplace(name);
  std::set<std::string, std::less<>> written;
  std::string out;
  for (const auto& [raw_name, value] : labels) {
    std::string name = PrometheusLabelName(raw_name);
    if (own.count(name) != 0) name = "exported_" + name;
    if (!written.insert(name).second) continue;  // a repeated name: the first wins
    if (!out.empty()) out += ',';
    out += name + "=\"" + PrometheusLabelValue(value) + '"';
  }
  return out;
}

void PrometheusWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  family_ = std::string(name);
  out_ << "# HELP " << name << ' ' << PrometheusHelp(help) << '\n';
  out_ << "# TYPE " << name << ' ' << type << '\n';
}

void PrometheusWriter::WriteName(const PrometheusLabels& own_labels,
                                 const std::string& user_labels) {
  out_ << family_;
  if (own_labels.empty() && user_labels.empty()) return;
  out_ << '{';
  const char* separator = "";
  for (const auto& [name, value] : own_labels) {
    out_ << separator << name << "=\"" << PrometheusLabelValue(value) << '"';
    separator = ",";
  }
  if (!user_labels.empty()) out_ << separator << user_labels;
  out_ << '}';
}

void PrometheusWriter::Sample(const PrometheusLabels& own_labels, const std::string& user_labels,
                              double value) {
  WriteName(own_labels, user_labels);
  out_ << ' ' << PrometheusValue(value) << '\n';
}

void PrometheusWriter::Sample(const PrometheusLabels& own_labels, const std::string& user_labels,
                              std::uint64_t value) {
  WriteName(own_labels, user_labels);
  // Not `out_ << value`: the stream's locale could group the digits.
  char buffer[24];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out_ << ' ' << std::string_view(buffer, result.ptr - buffer) << '\n';
}

}  // namespace internal
}  // namespace rcu
