// Names for ReloadTrigger and ReloadResult::Outcome.
#include "containers/config/config_watcher_options.h"

namespace rcu {

const char* ReloadTriggerName(ReloadTrigger trigger) {
  switch (trigger) {
    case ReloadTrigger::kInitial:
      return "initial";
    case ReloadTrigger::kFileChange:
      return "file change";
    case ReloadTrigger::kPoll:
      return "poll";
    case ReloadTrigger::kRescan:
      return "rescan";
    case ReloadTrigger::kManual:
      return "manual";
  }
  return "unknown";
}

const char* ReloadOutcomeName(ReloadResult::Outcome outcome) {
  switch (outcome) {
    case ReloadResult::Outcome::kPublished:
      return "published";
    case ReloadResult::Outcome::kUnchanged:
      return "unchanged";
    case ReloadResult::Outcome::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace rcu
