// rcu::Domain: grace periods over per-thread counters, callbacks on a
// worker per domain, fork handling.
//
// The grace period. A section increments locks[i] of its thread's slot, with
// i the domain's current index, and, when it ends, unlocks[i] of the slot of
// the thread that ends it (rcu/internal/domain_read_side.h). A grace period,
// with the domain's grace-period mutex held:
//
//   membarrier()          (1) every running reader is at a full fence
//   wait for index ^ 1    (2) sections that took the other index drain
//   flip the index
//   membarrier()          (3)
//   wait for index        (4) sections that took the old index drain
//
// Waiting for an index means summing every slot's unlocks[i] (acquire), then
// every slot's locks[i], until the sums match. Counts only grow, and a
// section's lock comes before its unlock (in its thread's order, or through
// whatever handed its token to another thread), so every unlock counted has
// its lock counted too: equal sums mean every section counted has ended.
// A section whose lock the scan missed wrote it after the membarrier() of
// (1) reached its thread; its reads come after that, so they see every
// update made before the grace period began, and it cannot hold anything
// those updates unpublished. Sections that took the index before (1) and are
// still open are therefore all counted, in (2) or (4). Step (2) is what waits
// for a section that read the index long ago, before the previous flip, and
// counted itself in what is now the current index.
//
// Without membarrier() (seccomp, old kernels), readers fence themselves
// (DomainReaderFence) and (1) and (3) are plain fences.
#include "rcu/domain.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "rcu/diagnostics.h"
#include "rcu/internal/chrono.h"
#include "rcu/internal/callback_list.h"
#include "rcu/internal/callbacks.h"
#include "rcu/internal/cond_var.h"
#include "rcu/internal/fork_hooks.h"
#include "rcu/internal/fork_replaced.h"
#include "rcu/internal/negative_control.h"
#include "rcu/internal/rcu_head_access.h"
#include "rcu/internal/report.h"
#include "rcu/internal/watchdog.h"
#include "rcu/mutex.h"
#include "rcu/stall.h"

namespace rcu {
namespace internal {

// The locks and condition variables of a domain. A fork() child gets fresh
// ones: the parent's may be held, or waited on, by threads that do not exist
// there. The old ones are left alone (never destroyed, kept reachable).
struct DomainSync {
  // Held by the thread that runs grace periods of the domain, while it does.
  Mutex gp_mu;
  // Guards the callback state below (DomainState).
  Mutex mu;
  CondVar work;                    // the worker waits here for callbacks or a poll request
  CondVar progress;                // Barrier() and backpressure wait here for the worker
  DomainSync* replaced = nullptr;  // the parent's, in a fork child
};

struct DomainState {
  DomainState(Domain& d, Domain::Options o, std::uint64_t s)
      : domain(d), options(std::move(o)), serial(s) {}
  // Only the current locks: any the fork child replaced are left alone
  // (threads of the parent may have been waiting on them).
  ~DomainState() { delete sync; }
  DomainState(const DomainState&) = delete;
  DomainState& operator=(const DomainState&) = delete;

  Domain& domain;
  const Domain::Options options;
  const std::uint64_t serial;  // unique in the process, never 0
  DomainSync* sync = new DomainSync;

  // Grace periods: even while none runs, odd while one does; advanced by
  // one at each start and end, with sync->gp_mu held. Starts just short of
  // wrapping around, so that every process exercises the wrap-around.
  std::atomic<std::uint64_t> sequence{~std::uint64_t{0} - 1001};
  // Callers of SynchronizeExpedited() waiting: while nonzero, the grace
  // period in progress polls without sleeping.
  std::atomic<int> expedite{0};
  // Set while a grace period has waited longer than the stall timeout:
  // backpressure does not wait then.
  std::atomic<bool> stalled{false};
  // Domain::chunks_[0, chunks_in_use) may be non-null.
  std::atomic<std::uint32_t> chunks_in_use{0};
  // Set in a fork() child that inherited work (callbacks, or a grace period
  // that StartPoll() asked for) but no worker: PollState() starts one.
  std::atomic<bool> needs_worker{false};

  // Callbacks, guarded by sync->mu. Each is counted in `queued` when queued
  // and in `done` once the batch it was in has run.
  CallbackList queue;
  // The batch the worker waits a grace period for. Kept here, not on the
  // worker's stack, so that a fork() child can queue it again.
  CallbackList running;
  std::uint64_t queued = 0;
  std::uint64_t done = 0;
  bool poll_requested = false;  // StartPoll(): run a grace period
  // From taking a batch until it has run (on the worker, or in a thread
  // that runs batches itself when no worker can be started): one at a time,
  // so that callbacks run in order.
  bool batch_in_progress = false;
  // `done` when backpressure last gave up waiting for a worker that made no
  // progress: later callers do not wait until `done` moves on.
  std::uint64_t stuck_at = ~std::uint64_t{0};
  bool worker_started = false;
  bool stopping = false;  // the destructor asks the worker to return
  pthread_t worker{};

  // The registry of live domains (for fork()), guarded by its mutex.
  DomainState* prev = nullptr;
  DomainState* next = nullptr;
};

namespace {

// ---------------------------------------------------------------------------
// Fences.

bool UseMembarrier() {
  static const bool use = [] {
    const long commands = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);
    if (commands >= 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0) {
      return true;
    }
    domain_readers_fence.store(true, std::memory_order_relaxed);
    return false;
  }();
  return use;
}

// A full fence on every thread of the process that is running now.
void HeavyFence() {
  FullFence();
  if (UseMembarrier() && syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0) {
    Report(Diagnostic::Kind::kCheckFailed, true,
           "rcu::Domain: membarrier() failed after it was registered");
  }
  FullFence();
}

// ---------------------------------------------------------------------------
// Slot indexes, one per thread for all domains.

struct SlotIndexes {
  Mutex mu;
  std::vector<std::uint32_t> free ABSL_GUARDED_BY(mu);  // given back by exited threads
  std::uint32_t next ABSL_GUARDED_BY(mu) = 1;           // never taken yet
};

SlotIndexes& GetSlotIndexes() {
  static SlotIndexes* const indexes = new SlotIndexes;  // used until the very end
  return *indexes;
}

// Set once the calling thread has given its index back: it reads through
// its domains' shared slots from then on.
thread_local bool slot_index_returned = false;

// Gives the thread's index back when it exits, ending first the sections of
// any guard the thread leaked (they would hold up their domains forever).
struct SlotIndexReturner {
  std::uint32_t index = kNoDomainSlot;
  ~SlotIndexReturner() {
    if (domain_guards != nullptr) {
      int leaked = 0;
      for (const void* g = domain_guards; g != nullptr; g = DomainAccess::OuterGuard(g)) {
        DomainAccess::EndSection(g);
        ++leaked;
      }
      domain_guards = nullptr;
      Report(Diagnostic::Kind::kThreadExitInReadSection, false,
             "rcu::Domain: a thread exited inside " + std::to_string(leaked) +
                 " read-side section(s) of rcu::Domain (a leaked Domain::ReadGuard); they "
                 "were ended for it");
    }
    slot_index_returned = true;
    domain_slot_index = kNoDomainSlot;
    if (index == kNoDomainSlot) return;
    SlotIndexes& indexes = GetSlotIndexes();
    MutexLock lock(indexes.mu);
    try {
      indexes.free.push_back(index);
    } catch (...) {
      // Out of memory: the index is not reused. Nothing else is lost.
    }
  }
};
thread_local SlotIndexReturner slot_index_returner;

// ---------------------------------------------------------------------------
// The registry of live domains.

struct Registry {
  Mutex mu;
  DomainState* head ABSL_GUARDED_BY(mu) = nullptr;
  std::uint64_t next_serial ABSL_GUARDED_BY(mu) = 1;
};
ABSL_CONST_INIT Registry registry;

// The domain whose callbacks the calling thread runs (its worker), if any.
thread_local const DomainState* running_callbacks_of = nullptr;

// ---------------------------------------------------------------------------
// Sequence arithmetic (Linux's rcu_seq).

// The sequence value at which a grace period that starts after `seq` was read
// has ended.
std::uint64_t Snap(std::uint64_t seq) { return (seq + 3) & ~std::uint64_t{1}; }

// seq >= target, modulo 2^64.
bool Reached(std::uint64_t seq, std::uint64_t target) {
  return static_cast<std::int64_t>(seq - target) >= 0;
}

// ---------------------------------------------------------------------------
// Grace periods.

// Sums (unlocks, then locks) for `index`; true if they match.
bool Drained(Domain& domain, DomainState& s, unsigned index) {
  std::atomic<DomainSlot*>* chunks = DomainAccess::Chunks(domain);
  DomainSlot& shared = DomainAccess::SharedSlot(domain);
  const std::uint32_t in_use = s.chunks_in_use.load(std::memory_order_acquire);
  std::uint64_t unlocks = shared.unlocks[index].load(std::memory_order_acquire);
  for (std::uint32_t c = 0; c < in_use; ++c) {
    const DomainSlot* chunk = chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (std::uint32_t i = 0; i < kDomainChunkSlots; ++i) {
#if RCU_BUG_PUT_BACK(DOMAIN_SKIPS_READER)
      if (i % 2 == 1) continue;  // the bug: half the threads' sections are not waited for
#endif
      unlocks += chunk[i].unlocks[index].load(std::memory_order_acquire);
    }
  }
  // Chunks installed since: a section counted in `unlocks` may have begun
  // in one (its token ended on a thread of an older chunk). Without
  // membarrier() nothing else orders that chunk before the sums.
  const std::uint32_t in_use_now = s.chunks_in_use.load(std::memory_order_acquire);
  std::uint64_t locks = shared.locks[index].load(std::memory_order_relaxed);
  for (std::uint32_t c = 0; c < in_use_now; ++c) {
    const DomainSlot* chunk = chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (std::uint32_t i = 0; i < kDomainChunkSlots; ++i) {
#if RCU_BUG_PUT_BACK(DOMAIN_SKIPS_READER)
      if (i % 2 == 1) continue;
#endif
      locks += chunk[i].locks[index].load(std::memory_order_relaxed);
    }
  }
  return locks == unlocks;
}

// Sections open now, of either index (a racy estimate, for reports).
std::int64_t OpenSections(Domain& domain, DomainState& s) {
  std::atomic<DomainSlot*>* chunks = DomainAccess::Chunks(domain);
  DomainSlot& shared = DomainAccess::SharedSlot(domain);
  std::int64_t open = 0;
  auto add = [&open](const DomainSlot& slot) {
    for (int i = 0; i < 2; ++i) {
      open -= static_cast<std::int64_t>(slot.unlocks[i].load(std::memory_order_acquire));
    }
    for (int i = 0; i < 2; ++i) {
      open += static_cast<std::int64_t>(slot.locks[i].load(std::memory_order_relaxed));
    }
  };
  add(shared);
  const std::uint32_t in_use = s.chunks_in_use.load(std::memory_order_acquire);
  for (std::uint32_t c = 0; c < in_use; ++c) {
    const DomainSlot* chunk = chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (std::uint32_t i = 0; i < kDomainChunkSlots; ++i) add(chunk[i]);
  }
  return open;
}

absl::Duration StallTimeoutOf(const DomainState& s) {
  if (s.options.stall_timeout == absl::ZeroDuration()) return rcu::StallTimeout();
  if (s.options.stall_timeout < absl::ZeroDuration()) return absl::InfiniteDuration();
  return s.options.stall_timeout;
}

// How long backpressure waits for a worker that completes no batch.
absl::Duration BackpressurePatience(const DomainState& s) {
  return std::min(StallTimeoutOf(s), absl::Seconds(1));
}

void SetStalled(DomainState& s, bool stalled) {
  if (s.stalled.exchange(stalled, std::memory_order_seq_cst) != stalled) {
    // Backpressure waiters look again: they do not wait while it stalls.
    DomainSync& sync = *s.sync;
    MutexLock lock(sync.mu);
    sync.progress.SignalAll();
  }
}

// Sleeps on the domain's waiter word until a reader ends a section (or a
// millisecond passes). Returns at once if it was drained meanwhile.
void SleepUntilReaderLeaves(Domain& domain, DomainState& s, unsigned index) {
  std::atomic<int>& waiter = DomainAccess::GracePeriodWaiter(domain);
  waiter.store(1, std::memory_order_relaxed);
  HeavyFence();  // readers that end a section from here on see the word set
  if (Drained(domain, s, index)) {
    waiter.store(0, std::memory_order_relaxed);
    return;
  }
  const struct timespec limit = {0, 1000000};
  syscall(SYS_futex, reinterpret_cast<int*>(&waiter), FUTEX_WAIT_PRIVATE, 1, &limit, nullptr, 0);
  waiter.store(0, std::memory_order_relaxed);
}

// Waits until the sections that took `index` have ended. A plain grace
// period polls with growing sleeps; an expedited one (or any while an
// expedited caller waits) polls for a moment, then sleeps until a reader
// wakes it.
void WaitForReaders(Domain& domain, DomainState& s, unsigned index, bool expedited,
                    absl::Time started) {
  const absl::Duration timeout = StallTimeoutOf(s);
  absl::Time next_report = started + timeout;
  std::chrono::microseconds nap(10);
  for (std::uint64_t round = 0;; ++round) {
    if (Drained(domain, s, index)) return;
    if (expedited || s.expedite.load(std::memory_order_relaxed) > 0) {
      if (round < 64) continue;  // a reader about to leave: ask again at once
      SleepUntilReaderLeaves(domain, s, index);
    } else if (round >= 16) {
      std::this_thread::sleep_for(nap);
      nap = std::min<std::chrono::microseconds>(nap * 2, std::chrono::milliseconds(1));
    }
    if (timeout == absl::InfiniteDuration()) continue;
    const absl::Time now = ForkSafeNow();
    if (now < next_report) continue;
    next_report = now + timeout;
    SetStalled(s, true);
    StallReport report;
    report.kind = StallReport::Kind::kDomainReaders;
    report.domain = s.options.name;
    report.open_sections = OpenSections(domain, s);
    report.blocked_for = now - started;
    ReportStall(report);
  }
}

// Runs one grace period. Requires sync->gp_mu.
void RunGracePeriod(Domain& domain, DomainState& s, bool expedited) {
  const std::uint64_t seq = s.sequence.load(std::memory_order_relaxed);
  s.sequence.store(seq + 1, std::memory_order_relaxed);
  const absl::Time started = ForkSafeNow();
  std::atomic<unsigned>& current = DomainAccess::CurrentIndex(domain);
  HeavyFence();  // (1)
  const unsigned old_index = current.load(std::memory_order_relaxed) & 1;
  WaitForReaders(domain, s, old_index ^ 1, expedited, started);  // (2)
  current.store(old_index ^ 1, std::memory_order_relaxed);
  HeavyFence();                                              // (3)
  WaitForReaders(domain, s, old_index, expedited, started);  // (4)
  FullFence();
  s.sequence.store(seq + 2, std::memory_order_release);
  if (s.stalled.load(std::memory_order_relaxed)) SetStalled(s, false);
}

// Waits until a grace period that starts after the call has ended, running
// it (and sharing it with every caller queued behind the same mutex).
void WaitForGracePeriod(Domain& domain, DomainState& s, bool expedited) {
  FullFence();
  const std::uint64_t target = Snap(s.sequence.load(std::memory_order_acquire));
  if (expedited) s.expedite.fetch_add(1, std::memory_order_relaxed);
  {
    DomainSync& sync = *s.sync;
    MutexLock lock(sync.gp_mu);
    while (!Reached(s.sequence.load(std::memory_order_relaxed), target)) {
      RunGracePeriod(domain, s, expedited);
    }
  }
  if (expedited) s.expedite.fetch_sub(1, std::memory_order_relaxed);
  AcquireFence();
}

// ---------------------------------------------------------------------------
// Callbacks.

// Runs a taken batch, oldest first, containing what callbacks throw.
void RunBatch(RcuHead* head) {
  while (head != nullptr) {
    RcuHead* next = RcuHeadAccess::Next(head);
    try {
      RcuHeadAccess::Invoke(head);
    } catch (...) {
      ReportThrownCallback();
    }
    head = next;
  }
}

// Lets domain workers run batches of callbacks, or one fork() through: a
// fork waits until no batch is running, and holds new ones back, so that a
// child never inherits half a batch (its callbacks run in one process or in
// both, never in neither). Grace periods are not held back: a domain's
// readers may sleep, so the child abandons the one under way instead.
class InvokeGate {
 public:
  void Enter() {
    MutexLock lock(mu_);
    while (forks_waiting_ != 0) changed_.Wait(mu_);
    ++invoking_;
  }
  void Exit() {
    MutexLock lock(mu_);
    if (--invoking_ == 0 && forks_waiting_ != 0) changed_.SignalAll();
  }
  void HoldForFork() {
    MutexLock lock(mu_);
    ++forks_waiting_;
    while (invoking_ != 0) changed_.Wait(mu_);
  }
  void Allow() {
    MutexLock lock(mu_);
    --forks_waiting_;
    changed_.SignalAll();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int invoking_ ABSL_GUARDED_BY(mu_) = 0;       // batches running now
  int forks_waiting_ ABSL_GUARDED_BY(mu_) = 0;  // forks holding new ones back
};

ForkReplaced<InvokeGate> invoke_gate;

// Takes the queue as the next batch, waits a grace period for it, runs it.
// Requires sync->mu and !batch_in_progress; releases the lock meanwhile and
// returns with it held.
void RunOneBatch(Domain& domain, DomainState& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  s.batch_in_progress = true;
  s.running.Append(std::move(s.queue));
  s.poll_requested = false;
  s.sync->mu.Unlock();
  WaitForGracePeriod(domain, s, /*expedited=*/false);
  InvokeGate& gate = invoke_gate.Get();
  gate.Enter();
  s.sync->mu.Lock();
  const std::uint64_t items = s.running.items();
  RcuHead* batch = s.running.TakeAll();
  s.sync->mu.Unlock();
  const DomainState* outer = running_callbacks_of;
  running_callbacks_of = &s;
  RunBatch(batch);
  running_callbacks_of = outer;
  gate.Exit();
  s.sync->mu.Lock();
  s.done += items;
  s.batch_in_progress = false;
  s.sync->progress.SignalAll();
}

bool HasWork(const DomainState& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return !s.queue.empty() || s.poll_requested;
}

void* WorkerMain(void* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  pthread_setname_np(pthread_self(), "rcu-domain");
  DomainState& s = *static_cast<DomainState*>(arg);
  s.sync->mu.Lock();
  while (true) {
    if (HasWork(s) && !s.batch_in_progress) {
      RunOneBatch(s.domain, s);
    } else if (s.stopping && !HasWork(s)) {
      break;
    } else {
      s.sync->work.Wait(s.sync->mu);
    }
  }
  s.sync->mu.Unlock();
  return nullptr;
}

// Starts the worker if it is not running. Requires sync->mu. Returns false
// if no thread could be created; callers then run batches themselves.
bool EnsureWorker(DomainState& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (s.worker_started) return true;
  if (pthread_create(&s.worker, nullptr, &WorkerMain, &s) != 0) return false;
  s.worker_started = true;
  s.needs_worker.store(false, std::memory_order_relaxed);
  return true;
}

// Waits (sync->mu held) until `done` reaches `target`, running batches in
// the calling thread if no worker can be started. With a finite `patience`
// (backpressure), stops waiting once no batch has completed for that long,
// or while the domain's grace period stalls: the caller may be what holds
// them up (its own token, a lock a callback wants).
void WaitForCallbacks(Domain& domain, DomainState& s, std::uint64_t target,
                      absl::Duration patience) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const bool patient = patience == absl::InfiniteDuration();
  std::uint64_t seen = s.done;
  absl::Time since = patient ? absl::InfinitePast() : ForkSafeNow();
  while (static_cast<std::int64_t>(s.done - target) < 0) {
    if (!patient) {
      if (s.stalled.load(std::memory_order_relaxed) || s.stopping) return;
      const absl::Time now = ForkSafeNow();
      if (s.done != seen) {
        seen = s.done;
        since = now;
      } else if (now - since >= patience) {
        s.stuck_at = s.done;
        return;
      }
    }
    const bool worker = EnsureWorker(s);
    if (!worker && !patient)
      return;  // backpressure never runs batches itself: the
               // grace period might wait for the caller's token
    if (worker) {
      s.sync->work.Signal();
      if (patient) {
        s.sync->progress.Wait(s.sync->mu);
      } else {
        s.sync->progress.WaitFor(
            s.sync->mu, absl::ToChronoNanoseconds(std::max(patience / 4, absl::Milliseconds(1))));
      }
    } else if (HasWork(s) && !s.batch_in_progress) {
      RunOneBatch(domain, s);
    } else {
      s.sync->progress.WaitFor(s.sync->mu, std::chrono::milliseconds(1));
    }
  }
}

// ---------------------------------------------------------------------------
// fork().

void DomainsBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (running_callbacks_of != nullptr) {
    Report(Diagnostic::Kind::kBlockingInCallback, true,
           "rcu::Domain: fork() called from a callback of domain '" +
               running_callbacks_of->options.name +
               "': it would wait for that callback's batch forever");
  }
  invoke_gate.Get().HoldForFork();
  registry.mu.Lock();
  for (DomainState* s = registry.head; s != nullptr; s = s->next) s->sync->mu.Lock();
  GetSlotIndexes().mu.Lock();
}

void DomainsAfterForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  GetSlotIndexes().mu.Unlock();
  for (DomainState* s = registry.head; s != nullptr; s = s->next) s->sync->mu.Unlock();
  registry.mu.Unlock();
  invoke_gate.Get().Allow();
}

void DomainsAfterForkChild(ForkChildCallbacks&) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  invoke_gate.ReplaceInForkChild();  // counts the parent's threads
  GetSlotIndexes().mu.Unlock();
  for (DomainState* s = registry.head; s != nullptr; s = s->next) {
    s->sync->mu.Unlock();
    // Fresh locks: a grace-period runner, the worker, waiters, all gone.
    auto* fresh = new DomainSync;
    fresh->replaced = s->sync;
    s->sync = fresh;
    // A grace period under way in the parent never ends here: it does not
    // count (cookies taken during it wait for the next one).
    const std::uint64_t seq = s->sequence.load(std::memory_order_relaxed);
    const bool abandoned = seq % 2 == 1;
    if (abandoned) s->sequence.store(seq - 1, std::memory_order_relaxed);
    s->expedite.store(0, std::memory_order_relaxed);
    s->stalled.store(false, std::memory_order_relaxed);
    // The batch the worker was waiting a grace period for goes back ahead
    // of the queue. (None was running: the gate held them back.)
    CallbackList requeue = std::move(s->running);
    requeue.Append(std::move(s->queue));
    s->queue = std::move(requeue);
    s->done = s->queued - s->queue.items();
    s->batch_in_progress = false;
    // The grace period under way may have been one that StartPoll() asked
    // for: ask again. A worker starts on demand (PollState() starts it).
    if (abandoned) s->poll_requested = true;
    s->worker_started = false;
    s->needs_worker.store(HasWork(*s), std::memory_order_relaxed);
  }
  registry.mu.Unlock();
}

[[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
    ForkStage::kDomains, {&DomainsBeforeFork, &DomainsAfterForkParent, &DomainsAfterForkChild});

}  // namespace

std::uint32_t TakeDomainSlotIndex() {
  if (slot_index_returned) return kNoDomainSlot;
  SlotIndexReturner& returner = slot_index_returner;  // installs the exit hook
  if (returner.index != kNoDomainSlot) return returner.index;
  SlotIndexes& indexes = GetSlotIndexes();
  std::uint32_t index = kNoDomainSlot;
  {
    MutexLock lock(indexes.mu);
    if (!indexes.free.empty()) {
      index = indexes.free.back();
      indexes.free.pop_back();
    } else if (indexes.next < kNoDomainSlot) {
      index = indexes.next++;
    }
  }
  returner.index = index;
  domain_slot_index = index;
  return index;
}

bool DomainAccess::GuardIsOf(const void* guard, const Domain& domain) {
  return &static_cast<const Domain::ReadGuard*>(guard)->domain_ == &domain;
}

const void* DomainAccess::OuterGuard(const void* guard) {
  return static_cast<const Domain::ReadGuard*>(guard)->outer_;
}

void DomainAccess::EndSection(const void* guard) {
  const auto* g = static_cast<const Domain::ReadGuard*>(guard);
  g->domain_.Unlock(g->slot_, g->index_);
}

}  // namespace internal

// -----------------------------------------------------------------------------
// Domain

Domain::Domain(Options options) : shared_slot_(new internal::DomainSlot) {
  internal::UseMembarrier();  // decided before any reader of any domain
  std::uint64_t serial;
  {
    MutexLock lock(internal::registry.mu);
    serial = internal::registry.next_serial++;
  }
  try {
    state_ = std::make_unique<internal::DomainState>(*this, std::move(options), serial);
  } catch (...) {
    delete shared_slot_;  // the destructor will not run
    throw;
  }
  MutexLock lock(internal::registry.mu);
  state_->next = internal::registry.head;
  if (internal::registry.head != nullptr) internal::registry.head->prev = state_.get();
  internal::registry.head = state_.get();
}

Domain::~Domain() {
  internal::DomainState& s = *state_;
  const std::int64_t open = internal::OpenSections(*this, s);
  if (open != 0) {
    internal::Report(Diagnostic::Kind::kDomainInUse, true,
                     "rcu::Domain: domain '" + s.options.name + "' destroyed with " +
                         std::to_string(open) +
                         " read-side section(s) still open (a ReadGuard or ReadToken "
                         "outlives its domain)");
  }
  // Run everything pending, and what that queues in turn.
  while (true) {
    Barrier();
    MutexLock lock(s.sync->mu);
    if (s.queue.empty() && s.running.empty()) {
      s.stopping = true;
      s.sync->work.SignalAll();
      break;
    }
  }
  bool joinable;
  pthread_t worker;
  {
    MutexLock lock(s.sync->mu);
    joinable = s.worker_started;
    worker = s.worker;
  }
  if (joinable) pthread_join(worker, nullptr);
  {
    MutexLock lock(internal::registry.mu);
    if (s.prev != nullptr) s.prev->next = s.next;
    if (s.next != nullptr) s.next->prev = s.prev;
    if (internal::registry.head == &s) internal::registry.head = s.next;
  }
  for (auto& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
  delete shared_slot_;
}

void Domain::WakeGracePeriodWaiter() {
  if (gp_waiter_.exchange(0, std::memory_order_relaxed) != 0) {
    syscall(SYS_futex, reinterpret_cast<int*>(&gp_waiter_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
  }
}

internal::DomainSlot* Domain::ThisThreadSlotSlow() {
  std::uint32_t index = internal::domain_slot_index;
  if (index == internal::kNoDomainSlot) {
    index = internal::TakeDomainSlotIndex();
    if (index == internal::kNoDomainSlot) return shared_slot_;
  }
  const std::uint32_t c = index / internal::kDomainChunkSlots;
  internal::DomainSlot* chunk = chunks_[c].load(std::memory_order_acquire);
  if (chunk == nullptr) {
    auto* fresh = new (std::nothrow) internal::DomainSlot[internal::kDomainChunkSlots];
    if (fresh == nullptr) return shared_slot_;
    // Counted in use before it can hold a count: the scan reads chunks_in_use
    // after its membarrier(), which orders this before the section's lock.
    std::uint32_t in_use = state_->chunks_in_use.load(std::memory_order_relaxed);
    while (in_use < c + 1 &&
           !state_->chunks_in_use.compare_exchange_weak(in_use, c + 1, std::memory_order_seq_cst)) {
    }
    if (chunks_[c].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
      chunk = fresh;
    } else {
      delete[] fresh;
    }
  }
  return chunk + index % internal::kDomainChunkSlots;
}

void Domain::ReadGuard::Unlink() {
  for (const ReadGuard* g = static_cast<const ReadGuard*>(internal::domain_guards); g != nullptr;
       g = g->outer_) {
    if (g->outer_ == this) {
      g->outer_ = outer_;  // ended before the guard inside it: out of order
      return;
    }
  }
  internal::Report(Diagnostic::Kind::kCheckFailed, true,
                   "rcu::Domain: a ReadGuard of domain '" + domain_.name() +
                       "' ended on another thread than the one that began it (a guard "
                       "belongs to its thread; a ReadToken can end elsewhere)");
}

void Domain::CheckNotInOwnSection(const char* what) const {
  if (InReadSection()) {
    internal::Report(Diagnostic::Kind::kSynchronizeInReadSection, true,
                     std::string("rcu::Domain: ") + what + "() of domain '" + state_->options.name +
                         "' called inside a ReadGuard of the same domain: it would wait "
                         "for itself forever");
  }
}

void Domain::Synchronize() {
  CheckNotInOwnSection("Synchronize");
  internal::WaitForGracePeriod(*this, *state_, /*expedited=*/false);
}

void Domain::SynchronizeExpedited() {
  CheckNotInOwnSection("SynchronizeExpedited");
  internal::WaitForGracePeriod(*this, *state_, /*expedited=*/true);
}

void Domain::CallRcu(RcuHead* head, void (*callback)(RcuHead*)) {
  RcuHeadAccess::SetCallback(head, callback);
  QueueCallback(head, callback);
}

void Domain::QueueCallback(RcuHead* head, void (*)(RcuHead*)) {
  internal::DomainState& s = *state_;
  MutexLock lock(s.sync->mu);
  s.queue.Append(head, 1);
  ++s.queued;
  const bool worker = internal::EnsureWorker(s);
  if (worker) s.sync->work.Signal();
  // Backpressure, per domain.
  const std::size_t limit = s.options.callback_backlog_limit;
  if (s.queued - s.done <= limit) return;
  if (InReadSection() || internal::running_callbacks_of == &s) return;  // could deadlock
  if (s.done == s.stuck_at) return;  // the worker is still held up
  const std::uint64_t target = s.queued - limit / 2;
  internal::WaitForCallbacks(*this, s, target, internal::BackpressurePatience(s));
}

void Domain::Barrier() {
  internal::DomainState& s = *state_;
  CheckNotInOwnSection("Barrier");
  if (internal::running_callbacks_of == &s) {
    internal::Report(Diagnostic::Kind::kBlockingInCallback, true,
                     "rcu::Domain: Barrier() of domain '" + s.options.name +
                         "' called from one of its callbacks: it would wait for that "
                         "callback forever");
  }
  MutexLock lock(s.sync->mu);
  if (s.poll_requested && !internal::EnsureWorker(s) && !s.batch_in_progress) {
    internal::RunOneBatch(*this, s);  // a StartPoll() that no worker serves
  }
  internal::WaitForCallbacks(*this, s, s.queued, absl::InfiniteDuration());
}

Domain::Cookie Domain::GetState() {
  internal::FullFence();
  Cookie cookie;
  cookie.domain_serial_ = state_->serial;
  cookie.sequence_ = internal::Snap(state_->sequence.load(std::memory_order_acquire));
  cookie.completed_ = false;
  return cookie;
}

Domain::Cookie Domain::StartPoll() {
  Cookie cookie = GetState();
  internal::DomainState& s = *state_;
  MutexLock lock(s.sync->mu);
  s.poll_requested = true;
  if (internal::EnsureWorker(s)) s.sync->work.Signal();
  // Without a worker, the next Barrier(), backpressure or Synchronize() in
  // any thread completes it.
  return cookie;
}

bool Domain::PollState(const Cookie& cookie) {
  if (cookie.completed_) return true;
  if (cookie.domain_serial_ != state_->serial) {
    internal::Report(Diagnostic::Kind::kCheckFailed, true,
                     "rcu::Domain: a grace-period cookie of another domain passed to "
                     "domain '" +
                         state_->options.name + "'");
  }
  const bool done =
      internal::Reached(state_->sequence.load(std::memory_order_acquire), cookie.sequence_);
  if (!done && ABSL_PREDICT_FALSE(state_->needs_worker.load(std::memory_order_relaxed))) {
    MutexLock lock(state_->sync->mu);  // a fork() child's pending work
    if (internal::EnsureWorker(*state_)) state_->sync->work.Signal();
  }
  if (done) internal::AcquireFence();
  return done;
}

void Domain::CondSynchronize(const Cookie& cookie) {
  if (!PollState(cookie)) Synchronize();
}

Domain::Cookie Domain::CompletedState() const { return Cookie(); }

bool Domain::InReadSection() const {
  for (const void* g = internal::domain_guards; g != nullptr;
       g = internal::DomainAccess::OuterGuard(g)) {
    if (internal::DomainAccess::GuardIsOf(g, *this)) return true;
  }
  return false;
}

const std::string& Domain::name() const { return state_->options.name; }

}  // namespace rcu
