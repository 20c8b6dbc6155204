// Internal: the typed stages of rcu::ConfigWatcher<T>'s reload pipeline:
// parse the file's bytes into a T, validate it, publish it into the
// Snapshot<T>.
//
// Not part of the public API; see containers/config/config_watcher.h.
//
// The pipeline. Every reload attempt (the first load, a change the watcher
// thread saw, Reload()) takes the file through these stages, in order, and
// stops at the first that fails. The first three do not depend on T and run
// in WatcherCore::AttemptLocked() (watch_core.h); it hands the bytes to a
// ReloadPipeline<T> for the last three.
//
//   1. Read the whole file, up to WatchOptions::max_file_size.
//      Fails if the file is missing, unreadable, not a regular file or too
//      large: the attempt fails with that error. A file that changed while
//      it was read (or too recently to trust the read) is not a failure
//      yet: the watcher reads it again later, and reports it only after
//      repeated tries.
//   2. Skip it if unchanged: content that hashes the same as what this
//      watcher last published ends the attempt as kUnchanged, and nothing
//      is parsed (unless Reload() finds that another writer has published
//      into the snapshot since: then the file is published again). Content
//      that already failed stages 3-6 is not reported again by the watcher
//      thread (Reload() tries it again).
//   3. Reject an empty file (no bytes, or only whitespace) with
//      InvalidArgument, unless WatchOptions::allow_empty_file.
//   4. Parse, with the user's Parser. Its error is passed on as it is;
//      nothing is validated or published.
//   5. Validate, with the user's Validator, if there is one. Its error
//      keeps its code, and its message is prefixed with "rejected by
//      validation: "; nothing is published.
//   6. Publish the T into the snapshot (Snapshot<T>::Store): it becomes the
//      next version, which is returned, and subscribers are notified.
//
// After any failure the snapshot keeps the version it had, WatcherCore
// prefixes the error with "config file <path>: ", records it in Status()
// and passes it to WatchOptions::on_reload. An exception thrown by stages
// 4-6 (the parser, the validator, T's constructors, an allocation while
// publishing) leaves this class: WatcherCore catches it and reports it as
// an Internal error ("the parser or validator threw: ..."); nothing is
// published, since publishing is the last step and Store() allocates before
// it publishes. A parser that gives up because rcu::ReloadStopRequested()
// turned true is not reported at all.
#ifndef CONTAINERS_CONFIG_INTERNAL_RELOAD_PIPELINE_H_
#define CONTAINERS_CONFIG_INTERNAL_RELOAD_PIPELINE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "containers/snapshot.h"

namespace rcu {
namespace internal {

// Stages 4-6 above, for one watcher: WatcherCore's `Apply`. Called by one
// thread at a time (WatcherCore serializes reload attempts).
template <typename T>
class ReloadPipeline {
 public:
  using Parser = std::function<absl::StatusOr<T>(std::string_view contents)>;
  using Validator = std::function<absl::Status(const T& config)>;

  // `parse` must not be empty; `validate` may be. `snapshot` must outlive
  // the pipeline.
  ReloadPipeline(Parser parse, Validator validate, Snapshot<T>* snapshot)
      : parse_(std::move(parse)), validate_(std::move(validate)), snapshot_(snapshot) {}

  // Parses, validates and publishes `bytes`. Returns the version published,
  // or the first stage's error (see the file comment).
  absl::StatusOr<std::uint64_t> operator()(absl::string_view bytes) {
    absl::StatusOr<T> config = parse_(std::string_view(bytes.data(), bytes.size()));
    if (!config.ok()) return config.status();
    if (validate_) {
      absl::Status valid = validate_(*config);
      if (!valid.ok()) {
        return absl::Status(valid.code(),
                            absl::StrCat("rejected by validation: ", valid.message()));
      }
    }
    return snapshot_->Store(*std::move(config));
  }

 private:
  Parser parse_;
  Validator validate_;
  Snapshot<T>* snapshot_;
};

}  // namespace internal
}  // namespace rcu

#endif  // CONTAINERS_CONFIG_INTERNAL_RELOAD_PIPELINE_H_
