// Internal: a FIFO of queued callbacks, linked through RcuHead's own link.
//
// Each entry stands for a number of callbacks (a retire block counts its
// objects, anything else counts one), and the list keeps their total, which
// is what rcu::Stats counts.
#ifndef RCU_INTERNAL_CALLBACK_LIST_H_
#define RCU_INTERNAL_CALLBACK_LIST_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

#include "rcu/call_rcu.h"
#include "rcu/internal/rcu_head_access.h"

namespace rcu {
namespace internal {

class CallbackList {
 public:
  CallbackList() = default;
  CallbackList(CallbackList&& other) noexcept
      : head_(other.head_), tail_(other.tail_), items_(other.items_) {
    other.head_ = other.tail_ = nullptr;
    other.items_ = 0;
  }
  // Only into an empty list (its entries would be lost).
  CallbackList& operator=(CallbackList&& other) noexcept {
    if (this != &other) {
      head_ = other.head_;
      tail_ = other.tail_;
      items_ = other.items_;
      other.head_ = other.tail_ = nullptr;
      other.items_ = 0;
    }
    return *this;
  }
  CallbackList(const CallbackList&) = delete;
  CallbackList& operator=(const CallbackList&) = delete;

  bool empty() const { return head_ == nullptr; }
  // The callbacks the entries stand for.
  std::uint64_t items() const { return items_; }

  // Appends `head` (its callback already set), standing for `items`.
  void Append(RcuHead* head, std::uint64_t items) {
    RcuHeadAccess::Next(head) = nullptr;
    if (tail_ == nullptr) {
      head_ = head;
    } else {
      RcuHeadAccess::Next(tail_) = head;
    }
    tail_ = head;
    items_ += items;
  }

  // Moves `other`'s entries to the end of this list.
  void Append(CallbackList&& other) {
    if (other.empty()) return;
    if (tail_ == nullptr) {
      head_ = other.head_;
    } else {
      RcuHeadAccess::Next(tail_) = other.head_;
    }
    tail_ = other.tail_;
    items_ += other.items_;
    other.head_ = other.tail_ = nullptr;
    other.items_ = 0;
  }

  // Empties the list and returns its first entry; the rest follow through
  // RcuHeadAccess::Next(), oldest first, ending in null. Read an entry's
  // link before running its callback, which may free it.
  RcuHead* TakeAll() {
    RcuHead* head = head_;
    head_ = tail_ = nullptr;
    items_ = 0;
    return head;
  }

  // Removes and returns the first entry, or null; `items_of(head)` says what
  // it stood for.
  template <typename ItemsOf>
  RcuHead* PopFront(ItemsOf items_of) {
    RcuHead* head = head_;
    if (head == nullptr) return nullptr;
    head_ = RcuHeadAccess::Next(head);
    if (head_ == nullptr) tail_ = nullptr;
    items_ -= items_of(head);
    return head;
  }

  // Calls `fn(head)` for each entry, oldest first. `fn` must not change the
  // list or the entry's link.
  template <typename F>
  void ForEach(F fn) const {
    for (RcuHead* h = head_; h != nullptr; h = RcuHeadAccess::Next(h)) fn(h);
  }

 private:
  RcuHead* head_ = nullptr;  // oldest; null iff empty
  RcuHead* tail_ = nullptr;  // newest; null iff empty
  std::uint64_t items_ = 0;  // what the entries stand for, in total
};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_CALLBACK_LIST_H_
