// Self-checking config files for the watcher scenarios.
//
// Every file a scenario writes carries its sequence number, a body of
// pseudo-random text derived from that number, a checksum of everything
// before the checksum line, and an end marker naming the sequence number
// again:
//
//   {                                    seq = "000017"
//     "seq": "000017",                   [body]
//     "body": [                          l0000 = "qzhw..."
//       "qzhw...",                       ...
//       ...                              [check]
//     ],                                 sum = "9c2f6a0e1d7b3354"
//     "sum": "9c2f6a0e1d7b3354",         end = "end-000017"
//     "end": "end-000017"
//   }
//
// So a prefix (no end marker, or a checksum over fewer bytes) and any mix of
// two files (a body that does not match the checksum, an end marker for
// another number) fail CheckSelfConsistent(), even where the mix happens to
// parse. Files with the same format and body size have the same length, so
// that same-size overwrites in place can be staged.
#ifndef TESTS_CONFIG_SCENARIO_FILES_H_
#define TESTS_CONFIG_SCENARIO_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rcu_test {

enum class FileFormat { kJson, kToml };

const char* FileFormatName(FileFormat format);

// The complete file number `seq` (0 to 999999), with `body_lines` lines of
// `line_width` characters of body.
std::string SelfCheckingFile(FileFormat format, int seq, std::size_t body_lines = 8,
                             std::size_t line_width = 48);

// OK if `bytes` is one complete self-checking file; otherwise says what is
// wrong with it (no end marker, checksum mismatch, end marker of another
// file, bytes after the end).
absl::Status CheckSelfConsistent(absl::string_view bytes);

// The sequence number in the file's first lines, or -1 if there is none.
int SequenceOf(absl::string_view bytes);

// A short description for messages: size, sequence number, first and last
// characters.
std::string Describe(absl::string_view bytes);

}  // namespace rcu_test

#endif  // TESTS_CONFIG_SCENARIO_FILES_H_
