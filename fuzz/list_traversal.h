// The RCU lists' traversal guarantee, as a checker for the list fuzzers: a
// traversal that started at begin() while writers changed the list must see
// every element that stayed in the list throughout exactly once, in list
// order, and nothing that was never in the list while it ran.
//
//   fuzz::Traversal t;
//   t.Start(ids_in_list_order);
//   t.Linked(7);        // the model tells it about changes as they happen
//   t.Unlinked(3);
//   t.Visit(id_at_cursor);   // each element the traversal reaches
//   t.Finish();              // at end()
//
// Elements are named by ids that are never reused while a traversal runs.
#ifndef FUZZ_LIST_TRAVERSAL_H_
#define FUZZ_LIST_TRAVERSAL_H_

#include <set>
#include <vector>

#include "fuzz/hooks.h"

namespace fuzz {

class Traversal {
 public:
  void Start(std::vector<int> live) {
    at_start_ = std::move(live);
    ever_ = std::set<int>(at_start_.begin(), at_start_.end());
    unlinked_.clear();
    visits_.clear();
    visited_.clear();
  }
  void Linked(int id) { ever_.insert(id); }
  void Unlinked(int id) { unlinked_.insert(id); }

  void Visit(int id) {
    FUZZ_CHECK(ever_.count(id) != 0,
               "a traversal reached element %d, never in the list while it ran", id);
    FUZZ_CHECK(visited_.insert(id).second, "a traversal reached element %d twice", id);
    visits_.push_back(id);
  }

  // At end(): the elements present throughout, exactly once and in order.
  void Finish() const {
    std::vector<int> survivors, seen;
    for (int id : at_start_) {
      if (unlinked_.count(id) == 0) survivors.push_back(id);
    }
    const std::set<int> kept(survivors.begin(), survivors.end());
    for (int id : visits_) {
      if (kept.count(id) != 0) seen.push_back(id);
    }
    FUZZ_CHECK(seen == survivors,
               "a traversal saw %zu of the %zu elements present throughout it, or out of "
               "order",
               seen.size(), survivors.size());
  }

 private:
  std::vector<int> at_start_;  // in list order
  std::set<int> ever_;         // present at some time since the start
  std::set<int> unlinked_;     // removed since the start
  std::vector<int> visits_;
  std::set<int> visited_;
};

}  // namespace fuzz

#endif  // FUZZ_LIST_TRAVERSAL_H_
