#include "tests/util/prometheus_text_parser.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rcu_test {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsMetricName(std::string_view s) {
  if (s.empty() || IsDigit(s[0])) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*
bool IsLabelName(std::string_view s) {
  if (s.empty() || IsDigit(s[0])) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '_') return false;
  }
  return true;
}

// [+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? -- Go's strconv.ParseFloat
// accepts more (hex, "inf"); the exporters write decimal numbers and
// Prometheus's spellings of infinity and NaN only.
bool IsNumber(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

class Parser {
 public:
  absl::StatusOr<PrometheusExposition> Parse(std::string_view text) {
    if (!text.empty() && text.back() != '\n') return Error("the last line does not end in \\n");
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      ++line_number_;
      line_ = text.substr(start, end - start);
      start = end + 1;
      absl::Status status = Line();
      if (!status.ok()) return status;
    }
    for (const PrometheusFamily& f : result_.families) {
      if (f.samples.empty()) {
        return absl::InvalidArgumentError("family " + f.name + " has no samples");
      }
    }
    return std::move(result_);
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError("line " + std::to_string(line_number_) + ": " +
                                      std::string(what) + ": \"" + std::string(line_) + "\"");
  }

  absl::Status Line() {
    if (line_.find('\r') != std::string_view::npos) return Error("carriage return");
    if (line_.empty()) return absl::OkStatus();  // "Empty lines are ignored."
    if (line_[0] == '#') return Comment();
    return SampleLine();
  }

  // The family `name` is written now: it must be the current one, or new.
  absl::StatusOr<PrometheusFamily*> Enter(std::string_view name) {
    if (current_ != nullptr && current_->name == name) return current_;
    if (done_.count(std::string(name)) != 0) {
      return Error("a family's lines are not all together");
    }
    if (current_ != nullptr) done_.insert(current_->name);
    result_.families.push_back(PrometheusFamily{std::string(name), "", "", {}});
    current_ = &result_.families.back();
    return current_;
  }

  absl::Status Comment() {
    std::string_view rest = line_.substr(1);
    const bool help = rest.substr(0, 6) == " HELP ";
    const bool type = rest.substr(0, 6) == " TYPE ";
    if (!help && !type) return absl::OkStatus();  // any other comment
    rest.remove_prefix(6);
    const std::size_t space = rest.find(' ');
    const std::string_view name = rest.substr(0, space);
    if (!IsMetricName(name)) return Error("invalid metric name");
    if (space == std::string_view::npos) return Error("no text after the name");
    const std::string_view text = rest.substr(space + 1);
    absl::StatusOr<PrometheusFamily*> family = Enter(name);
    if (!family.ok()) return family.status();
    PrometheusFamily& f = **family;
    if (!f.samples.empty()) return Error("HELP or TYPE after the family's samples");
    if (help) {
      if (!help_seen_.insert(f.name).second) return Error("a second HELP line");
      std::string unescaped;
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
          unescaped += text[i];
        } else if (i + 1 < text.size() && (text[i + 1] == '\\' || text[i + 1] == 'n')) {
          unescaped += text[i + 1] == 'n' ? '\n' : '\\';
          ++i;
        } else {
          return Error("invalid escape in HELP");
        }
      }
      f.help = unescaped;
      return absl::OkStatus();
    }
    if (!f.type.empty()) return Error("a second TYPE line");
    if (text != "counter" && text != "gauge" && text != "histogram" && text != "summary" &&
        text != "untyped") {
      return Error("unknown type");
    }
    if (text != "counter" && text != "gauge") return Error("exporters write counters and gauges");
    if (text == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
      return Error("a counter's name does not end in _total");
    }
    f.type = std::string(text);
    return absl::OkStatus();
  }

  absl::Status SampleLine() {
    std::size_t i = 0;
    while (i < line_.size() && line_[i] != '{' && line_[i] != ' ' && line_[i] != '\t') ++i;
    const std::string_view name = line_.substr(0, i);
    if (!IsMetricName(name)) return Error("invalid metric name");
    absl::StatusOr<PrometheusFamily*> family = Enter(name);
    if (!family.ok()) return family.status();
    PrometheusFamily& f = **family;
    if (f.type.empty()) return Error("a sample before its family's TYPE line");
    if (help_seen_.count(f.name) == 0) return Error("a sample before its family's HELP line");

    PrometheusSample sample;
    if (i < line_.size() && line_[i] == '{') {
      ++i;
      while (true) {
        if (i < line_.size() && line_[i] == '}') {
          ++i;
          break;
        }
        const std::size_t eq = line_.find('=', i);
        if (eq == std::string_view::npos) return Error("a label without '='");
        const std::string_view label = line_.substr(i, eq - i);
        if (!IsLabelName(label)) return Error("invalid label name");
        if (label.substr(0, 2) == "__") return Error("a label name starting with __ (reserved)");
        i = eq + 1;
        if (i >= line_.size() || line_[i] != '"') return Error("a label value without quotes");
        ++i;
        std::string value;
        bool closed = false;
        while (i < line_.size()) {
          const char c = line_[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c != '\\') {
            value += c;
            continue;
          }
          if (i >= line_.size()) break;
          const char e = line_[i++];
          if (e == '\\') {
            value += '\\';
          } else if (e == '"') {
            value += '"';
          } else if (e == 'n') {
            value += '\n';
          } else {
            return Error("invalid escape in a label value");
          }
        }
        if (!closed) return Error("an unterminated label value");
        if (!sample.labels.emplace(std::string(label), value).second) {
          return Error("a label name repeated in one sample");
        }
        if (i < line_.size() && line_[i] == ',') {
          ++i;
        } else if (i >= line_.size() || line_[i] != '}') {
          return Error("labels not separated by ','");
        }
      }
    }
    if (i >= line_.size() || (line_[i] != ' ' && line_[i] != '\t')) {
      return Error("no space before the value");
    }
    while (i < line_.size() && (line_[i] == ' ' || line_[i] == '\t')) ++i;
    const std::size_t value_end = line_.find_first_of(" \t", i);
    const std::string value_text(line_.substr(i, value_end - i));
    if (value_end != std::string_view::npos) return Error("a timestamp or trailing text");
    if (value_text == "+Inf" || value_text == "Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else if (value_text == "-Inf") {
      sample.value = -std::numeric_limits<double>::infinity();
    } else if (value_text == "NaN") {
      sample.value = std::numeric_limits<double>::quiet_NaN();
    } else if (IsNumber(value_text)) {
      sample.value = std::strtod(value_text.c_str(), nullptr);
    } else {
      return Error("a value that is not a float");
    }
    if (f.type == "counter" && !(sample.value >= 0)) return Error("a negative or NaN counter");
    for (const PrometheusSample& other : f.samples) {
      if (other.labels == sample.labels) return Error("a repeated series");
    }
    f.samples.push_back(std::move(sample));
    return absl::OkStatus();
  }

  PrometheusExposition result_;
  PrometheusFamily* current_ = nullptr;
  std::set<std::string> done_;
  std::set<std::string> help_seen_;
  int line_number_ = 0;
  std::string_view line_;
};

}  // namespace

const PrometheusFamily* PrometheusExposition::Find(std::string_view name) const {
  for (const PrometheusFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double PrometheusExposition::Value(std::string_view name,
                                   const std::map<std::string, std::string>& labels) const {
  const PrometheusFamily* f = Find(name);
  if (f != nullptr) {
    for (const PrometheusSample& s : f->samples) {
      if (s.labels == labels) return s.value;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

absl::StatusOr<PrometheusExposition> ParsePrometheusText(std::string_view text) {
  return Parser().Parse(text);
}

}  // namespace rcu_test
