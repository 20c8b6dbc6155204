#include "tests/config/scenario_files.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rcu_test {
namespace {

std::uint64_t Fnv1a64(absl::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t SplitMix64(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string BodyLine(int seq, std::size_t line, std::size_t width) {
  std::uint64_t state = static_cast<std::uint64_t>(seq) * 1000003u + line;
  std::string text(width, ' ');
  for (char& c : text) c = static_cast<char>('a' + SplitMix64(&state) % 26);
  return text;
}

// The value between the first pair of double quotes after the line's
// separator (':' in JSON, '=' in TOML).
bool QuotedValue(absl::string_view line, absl::string_view* value) {
  const std::size_t separator = line.find_first_of("=:");
  if (separator == absl::string_view::npos) return false;
  const std::size_t open = line.find('"', separator);
  if (open == absl::string_view::npos) return false;
  const std::size_t close = line.find('"', open + 1);
  if (close == absl::string_view::npos) return false;
  *value = line.substr(open + 1, close - open - 1);
  return true;
}

bool IsKeyLine(absl::string_view line, absl::string_view key) {
  line = absl::StripLeadingAsciiWhitespace(line);
  return absl::StartsWith(line, absl::StrCat("\"", key, "\"")) ||
         absl::StartsWith(line, absl::StrCat(key, " ="));
}

}  // namespace

const char* FileFormatName(FileFormat format) {
  return format == FileFormat::kJson ? "json" : "toml";
}

std::string SelfCheckingFile(FileFormat format, int seq, std::size_t body_lines,
                             std::size_t line_width) {
  const std::string number = absl::StrFormat("%06d", seq);
  std::string text;
  if (format == FileFormat::kJson) {
    absl::StrAppend(&text, "{\n  \"seq\": \"", number, "\",\n  \"body\": [\n");
    for (std::size_t i = 0; i < body_lines; ++i) {
      absl::StrAppend(&text, "    \"", BodyLine(seq, i, line_width), "\"",
                      i + 1 < body_lines ? ",\n" : "\n");
    }
    absl::StrAppend(&text, "  ],\n");
  } else {
    absl::StrAppend(&text, "seq = \"", number, "\"\n[body]\n");
    for (std::size_t i = 0; i < body_lines; ++i) {
      absl::StrAppend(&text, absl::StrFormat("l%04d = \"", i), BodyLine(seq, i, line_width),
                      "\"\n");
    }
    absl::StrAppend(&text, "[check]\n");
  }
  const std::string sum = absl::StrFormat("%016x", Fnv1a64(text));
  if (format == FileFormat::kJson) {
    absl::StrAppend(&text, "  \"sum\": \"", sum, "\",\n  \"end\": \"end-", number, "\"\n}\n");
  } else {
    absl::StrAppend(&text, "sum = \"", sum, "\"\nend = \"end-", number, "\"\n");
  }
  return text;
}

int SequenceOf(absl::string_view bytes) {
  std::size_t start = 0;
  for (int line_number = 0; line_number < 3 && start < bytes.size(); ++line_number) {
    std::size_t end = bytes.find('\n', start);
    if (end == absl::string_view::npos) end = bytes.size();
    const absl::string_view line = bytes.substr(start, end - start);
    absl::string_view value;
    int seq = 0;
    if (IsKeyLine(line, "seq") && QuotedValue(line, &value) && absl::SimpleAtoi(value, &seq)) {
      return seq;
    }
    start = end + 1;
  }
  return -1;
}

absl::Status CheckSelfConsistent(absl::string_view bytes) {
  const int seq = SequenceOf(bytes);
  if (seq < 0) return absl::DataLossError("no sequence number in the first lines");
  // Find the checksum line.
  std::size_t sum_start = absl::string_view::npos;
  for (std::size_t start = 0; start < bytes.size();) {
    std::size_t end = bytes.find('\n', start);
    if (end == absl::string_view::npos) end = bytes.size();
    if (IsKeyLine(bytes.substr(start, end - start), "sum")) {
      sum_start = start;
      break;
    }
    start = end + 1;
  }
  if (sum_start == absl::string_view::npos) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": no checksum line (a prefix?)"));
  }
  const std::size_t sum_end = bytes.find('\n', sum_start);
  if (sum_end == absl::string_view::npos) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": cut inside the checksum line"));
  }
  absl::string_view sum;
  if (!QuotedValue(bytes.substr(sum_start, sum_end - sum_start), &sum)) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": malformed checksum line"));
  }
  const std::string expected_sum = absl::StrFormat("%016x", Fnv1a64(bytes.substr(0, sum_start)));
  if (sum != expected_sum) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": checksum ", sum,
                                            " does not match the bytes before it (", expected_sum,
                                            "): a mix of two files?"));
  }
  const std::size_t end_start = sum_end + 1;
  const std::size_t end_end = bytes.find('\n', end_start);
  if (end_end == absl::string_view::npos) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": no complete end marker (a prefix?)"));
  }
  const absl::string_view end_line = bytes.substr(end_start, end_end - end_start);
  absl::string_view marker;
  if (!IsKeyLine(end_line, "end") || !QuotedValue(end_line, &marker)) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": no end marker after the checksum"));
  }
  const std::string expected_marker = absl::StrFormat("end-%06d", seq);
  if (marker != expected_marker) {
    return absl::DataLossError(absl::StrCat("seq ", seq, ": end marker ", marker,
                                            " belongs to another file: a mix of two files?"));
  }
  const absl::string_view rest = bytes.substr(end_end + 1);
  const bool json = absl::StartsWith(bytes, "{");
  if ((json && rest != "}\n") || (!json && !rest.empty())) {
    return absl::DataLossError(
        absl::StrCat("seq ", seq, ": ", rest.size(), " unexpected bytes after the end marker"));
  }
  return absl::OkStatus();
}

std::string Describe(absl::string_view bytes) {
  auto printable = [](absl::string_view s) {
    std::string out;
    for (char c : s) out += (c == '\n' ? '|' : c);
    return out;
  };
  const std::size_t n = bytes.size();
  return absl::StrCat(n, " bytes, seq ", SequenceOf(bytes), ", starting \"",
                      printable(bytes.substr(0, 24)), "\", ending \"",
                      printable(bytes.substr(n > 24 ? n - 24 : 0)), "\"");
}

}  // namespace rcu_test
