// Internal: access to rcu::RcuHead's private fields for the core's .cc files.
#ifndef RCU_INTERNAL_RCU_HEAD_ACCESS_H_
#define RCU_INTERNAL_RCU_HEAD_ACCESS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include "rcu/call_rcu.h"

namespace rcu {

struct RcuHeadAccess {
  static RcuHead*& Next(RcuHead* head) { return head->next_; }
  static void (*Callback(RcuHead* head))(RcuHead*) { return head->callback_; }
  static void SetCallback(RcuHead* head, void (*callback)(RcuHead*)) { head->callback_ = callback; }
  static void Invoke(RcuHead* head) { head->callback_(head); }
};

}  // namespace rcu

#endif  // RCU_INTERNAL_RCU_HEAD_ACCESS_H_
