// stress/rcu_torture_test.cc: torture test of the RCU core (//rcu), after the
// Linux kernel's rcutorture and liburcu's port of it.
//
// For RCU_STRESS_SECONDS seconds (default 10) these threads run together:
//  - one writer keeps replacing the object that readers see (an
//    rcu::RcuPtr<TortureObject> exchanged under an rcu::Mutex) and hands the
//    old one to each update path in turn: rcu::Synchronize(), rcu::CallRcu()
//    with an embedded rcu::RcuHead, rcu::CallRcu() with a lambda,
//    rcu::Retire() with a deleter, rcu::StartPoll() + rcu::PollState(), and
//    rcu::GetState() + rcu::PollState() + rcu::CondSynchronize(). Each object
//    also owns a heap payload (an rcu::RcuObjBase) that is retired with
//    rcu::Retire() when the object is unpublished;
//  - readers dereference the object under rcu::ReadGuard, sometimes nested up
//    to 9 deep, sometimes yielding the CPU inside the section, spin a little
//    and check the object again;
//  - fake writers call Synchronize(), StartPoll()/PollState(),
//    GetState()/CondSynchronize() and Barrier() concurrently;
//  - a flood thread queues bursts of callbacks, some while a reader holds up
//    every grace period, and the main thread samples the callback backlog.
//
// What counts as a violation (the exit status is then 1):
//  - Pipe count. A retired object's pipe count becomes 1 when it is
//    unpublished and goes up by one after every later grace period, on
//    whichever path reclaims it; at kPipeLength it is poisoned and recycled.
//    A reader that still holds the object entered its section before the
//    unpublish, so it may see 0 or 1. 2 or more means a grace period ended
//    while a reader that predates it was still running.
//  - Publication (mbtest). Every field of an object and of its payload is
//    written before the object is published, and poisoned when it is
//    reclaimed. A reader must never see a poisoned magic, a field that does
//    not match the object's sequence number, an object that changes under it,
//    or an older object after a newer one.
//  - Cookies. A cookie taken inside a read-side section must not read as
//    completed before that section ends; one taken before Synchronize() or
//    passed to CondSynchronize() must read as completed afterwards.
//  - Callback backlog. Callbacks waiting (callbacks_queued -
//    callbacks_invoked) never exceed rcu::CallbackBacklogLimit() by more than
//    kBacklogSlack, and a flood past the limit while grace periods are held
//    up makes the flooding thread wait (Stats::backlog_waits).
//  - Nothing lost. At the end, after rcu::Barrier(), every callback has run,
//    every object is back in the pool and every payload has been freed.
//  - Any rcu::Diagnostic report.
//
// Time only bounds the run (and paces the backoff of polling loops); no
// thread waits a fixed time for another to do something.
//
// Negative control: built with -DTORTURE_BREAK_GRACE_PERIOD (the target
// //stress:rcu_torture_broken), every wait for a grace period in the update
// paths is skipped and callbacks run at once; the test must then fail, which
// //stress:rcu_torture_negative_control_test checks on every stress run.
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rcu/rcu.h"
#include "stress/stress_util.h"

namespace {

using stress::Rng;
using stress::SetThreadName;

#ifdef TORTURE_BREAK_GRACE_PERIOD
constexpr bool kBreakGracePeriods = true;
#else
constexpr bool kBreakGracePeriods = false;
#endif

// An object is reclaimed once its pipe count reaches this.
constexpr int kPipeLength = 10;
constexpr int kFields = 8;
constexpr int kPayloadWords = 6;
// Recycled objects, like rcutorture's fixed array: a premature reuse shows up
// as a changed sequence number under a reader.
constexpr std::size_t kPoolSize = 128;
constexpr int kFakeWriters = 2;
// Extra nested guards inside an outer one, at most.
constexpr int kMaxExtraNesting = 8;
// Set for the run, so that floods cross it often and cheaply.
constexpr std::size_t kFloodBacklogLimit = 10000;
// How far above the limit the backlog may go: each thread that queues may
// overshoot by one before it waits; threads inside read-side sections never
// wait.
constexpr std::uint64_t kBacklogSlack = 1024;
// A flood phase starts after this many writer updates.
constexpr std::uint64_t kUpdatesBetweenFloods = 256;

constexpr std::uint64_t kLiveMagic = 0x4c49564552435531;  // "LIVERCU1"
constexpr std::uint64_t kDeadMagic = 0xdeadbeefdeadbeef;
constexpr std::uint64_t kPayloadLiveMagic = 0x5041594c4f414431;  // "PAYLOAD1"
constexpr std::uint64_t kPayloadDeadMagic = 0xdeaddeaddeaddead;
constexpr std::uint64_t kPoison = 0x6b6b6b6b6b6b6b6b;  // the kernel's POISON_FREE

std::uint64_t FieldValue(std::uint64_t seq, int i) {
  return (seq * 0x9e3779b97f4a7c15) ^ (static_cast<std::uint64_t>(i + 1) * 0xbf58476d1ce4e5b9);
}

std::uint64_t PayloadValue(std::uint64_t seq, int i) {
  return (seq * 0x94d049bb133111eb) ^ (static_cast<std::uint64_t>(i + 1) * 0x2545f4914f6cdd1d);
}

// Keeps the compiler from dropping stores to memory that is freed next.
inline void KeepStores(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

void UpdateMax(std::atomic<std::uint64_t>& max, std::uint64_t value) {
  std::uint64_t current = max.load(std::memory_order_relaxed);
  while (value > current && !max.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

// Backoff for a thread that polls a cookie: yields at first, then sleeps a
// little so that it does not keep preempted readers off the CPU. The caller
// loops on the condition; the sleep is never what it waits for.
void PollBackoff(int attempt) {
  if (attempt < 16) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

// ---------------------------------------------------------------------------
// Violations.

enum Violation {
  kPipeTooOld,
  kPoisoned,
  kUninitialized,
  kChangedUnderReader,
  kSequenceBackwards,
  kCookieEarly,
  kCookieLate,
  kBacklogUnbounded,
  kLost,
  kStatsInconsistent,
  kDiagnosticReported,
  kNumViolations,
};

constexpr const char* kViolationNames[kNumViolations] = {
    "grace period ended early (reader saw pipe count > 1)",
    "reader saw a poisoned (reclaimed) object or payload",
    "reader saw a field that does not match its object (publication order)",
    "object changed under a reader (recycled too early)",
    "reader saw an older object after a newer one",
    "cookie completed while a reader older than it was still running",
    "cookie not completed after Synchronize()/CondSynchronize()",
    "callback backlog not bounded",
    "callbacks, objects or payloads lost",
    "rcu::GetStats() inconsistent",
    "rcu diagnostic reported",
};

stress::Violations<kNumViolations> violations(kViolationNames);
// Reader observations so far, to the nearest 1024 below (progress lines).
std::atomic<std::uint64_t> observations_so_far{0};

std::string Hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
  return buf;
}

// ---------------------------------------------------------------------------
// The objects readers see.

std::atomic<std::uint64_t> payloads_allocated{0};
std::atomic<std::uint64_t> payloads_freed{0};

// Heap-allocated, freed (by delete) one grace period after its object is
// unpublished, through rcu::Retire() without allocating. Plain fields: their
// safety rests on RCU alone.
struct Payload : rcu::RcuObjBase<Payload> {
  explicit Payload(std::uint64_t s) : magic(kPayloadLiveMagic), seq(s) {
    for (int i = 0; i < kPayloadWords; ++i) words[i] = PayloadValue(s, i);
    payloads_allocated.fetch_add(1, std::memory_order_relaxed);
  }
  ~Payload() {
    magic = kPayloadDeadMagic;
    seq = kPoison;
    for (std::uint64_t& word : words) word = kPoison;
    KeepStores(this);
    payloads_freed.fetch_add(1, std::memory_order_relaxed);
  }
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;

  std::uint64_t magic;
  std::uint64_t seq;
  std::uint64_t words[kPayloadWords];
};

// Recycled through the pool, never freed during the run, so a reader that
// holds one too long reads poison rather than freed memory. Atomic (relaxed)
// fields keep even the negative control free of data races.
struct TortureObject : rcu::RcuHead {
  std::atomic<std::uint64_t> magic{kDeadMagic};
  std::atomic<int> pipe_count{kPipeLength};
  std::atomic<std::uint64_t> seq{kPoison};
  std::array<std::atomic<std::uint64_t>, kFields> fields{};
  std::atomic<Payload*> payload{nullptr};
};

class ObjectPool {
 public:
  explicit ObjectPool(std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      storage_.push_back(std::make_unique<TortureObject>());
      free_.push_back(storage_.back().get());
    }
  }
  // nullptr if every object is in use.
  TortureObject* Allocate() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return nullptr;
    TortureObject* obj = free_.back();  // LIFO: the most recently reclaimed
    free_.pop_back();
    return obj;
  }
  void Free(TortureObject* obj) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(obj);
  }
  std::size_t FreeCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return free_.size();
  }

 private:
  std::mutex mu_;
  std::vector<TortureObject*> free_;
  std::vector<std::unique_ptr<TortureObject>> storage_;
};

ObjectPool pool(kPoolSize);
rcu::Mutex writer_mu;
rcu::RcuPtr<TortureObject> current;  // replaced by the writer under writer_mu

std::atomic<bool> stop{false};
std::atomic<std::uint64_t> writer_updates{0};

// Wakes the flood thread every kUpdatesBetweenFloods writer updates, and at
// the end of the run.
struct FloodSignal {
  std::mutex mu;
  std::condition_variable cv;
  void Notify() {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};
FloodSignal flood_signal;
std::atomic<std::uint64_t> objects_recycled{0};
// Objects handed to an asynchronous path and not yet reclaimed.
std::atomic<std::int64_t> async_in_flight{0};
std::atomic<std::uint64_t> max_pending{0};

void Initialize(TortureObject* obj, std::uint64_t seq) {
  obj->pipe_count.store(0, std::memory_order_relaxed);
  obj->seq.store(seq, std::memory_order_relaxed);
  for (int i = 0; i < kFields; ++i) {
    obj->fields[i].store(FieldValue(seq, i), std::memory_order_relaxed);
  }
  obj->payload.store(new Payload(seq), std::memory_order_relaxed);
  obj->magic.store(kLiveMagic, std::memory_order_relaxed);
}

// Poisons `obj` and returns it to the pool.
void Reclaim(TortureObject* obj) {
  obj->magic.store(kDeadMagic, std::memory_order_relaxed);
  obj->seq.store(kPoison, std::memory_order_relaxed);
  for (auto& field : obj->fields) field.store(kPoison, std::memory_order_relaxed);
  obj->payload.store(nullptr, std::memory_order_relaxed);
  objects_recycled.fetch_add(1, std::memory_order_relaxed);
  pool.Free(obj);
}

// One more grace period has ended since `obj` was unpublished. Returns true
// if that reclaimed it. One updater per object at a time.
bool AdvancePipe(TortureObject* obj) {
  const int pipe = obj->pipe_count.load(std::memory_order_relaxed) + 1;
  obj->pipe_count.store(pipe, std::memory_order_relaxed);
  if (pipe < kPipeLength) return false;
  Reclaim(obj);
  return true;
}

// ---------------------------------------------------------------------------
// The update side as the writer uses it. With TORTURE_BREAK_GRACE_PERIOD
// nothing here waits: the negative control.

void TortureSynchronize() {
  if constexpr (!kBreakGracePeriods) rcu::Synchronize();
}

bool TorturePollState(rcu::GracePeriodCookie cookie) {
  if constexpr (kBreakGracePeriods) return true;
  return rcu::PollState(cookie);
}

void TortureCondSynchronize(rcu::GracePeriodCookie cookie) {
  if constexpr (!kBreakGracePeriods) rcu::CondSynchronize(cookie);
}

void TortureCallRcu(rcu::RcuHead* head, void (*callback)(rcu::RcuHead*)) {
  if constexpr (kBreakGracePeriods) {
    callback(head);
  } else {
    rcu::CallRcu(head, callback);
  }
}

template <typename F>
void TortureCallRcu(F fn) {
  if constexpr (kBreakGracePeriods) {
    fn();
  } else {
    rcu::CallRcu(std::move(fn));
  }
}

template <typename T, typename Deleter>
void TortureRetire(T* ptr, Deleter deleter) {
  if constexpr (kBreakGracePeriods) {
    deleter(ptr);
  } else {
    rcu::Retire(ptr, std::move(deleter));
  }
}

void TortureRetire(Payload* payload) {
  if constexpr (kBreakGracePeriods) {
    delete payload;
  } else {
    rcu::Retire(payload);  // RcuObjBase: no allocation
  }
}

// The asynchronous paths: each callback advances the pipe count by one and,
// until the object is reclaimed, queues itself again.

void AsyncDone() { async_in_flight.fetch_sub(1, std::memory_order_relaxed); }

void HeadStep(rcu::RcuHead* head) {
  auto* obj = static_cast<TortureObject*>(head);
  if (AdvancePipe(obj)) {
    AsyncDone();
  } else {
    TortureCallRcu(obj, &HeadStep);
  }
}

void LambdaStep(TortureObject* obj) {
  TortureCallRcu([obj] {
    if (AdvancePipe(obj)) {
      AsyncDone();
    } else {
      LambdaStep(obj);
    }
  });
}

struct RetireStep {
  void operator()(TortureObject* obj) const {
    if (AdvancePipe(obj)) {
      AsyncDone();
    } else {
      TortureRetire(obj, RetireStep());
    }
  }
};

// ---------------------------------------------------------------------------
// The writer.

enum UpdatePath {
  kPathSynchronize,
  kPathCallRcuHead,
  kPathCallRcuLambda,
  kPathRetire,
  kPathStartPoll,
  kPathCondSynchronize,
  kNumPaths,
};

constexpr const char* kPathNames[kNumPaths] = {
    "synchronize", "call_rcu(head)",        "call_rcu(lambda)",
    "retire",      "start_poll+poll_state", "get_state+cond_synchronize",
};

class Writer {
 public:
  // Publishes the first object; called before any reader starts.
  void Start() { Publish(); }

  void Run() {
    SetThreadName("torture-writer");
    while (!stop.load(std::memory_order_relaxed)) {
      TortureObject* old = Publish();
      if (old == nullptr) break;
      Update(old, static_cast<UpdatePath>(updates_ % kNumPaths));
      ++updates_;
      writer_updates.store(updates_, std::memory_order_relaxed);
      if (updates_ % kUpdatesBetweenFloods == 0) flood_signal.Notify();
    }
  }

  // After every other thread has stopped: unpublishes the last object and
  // waits until every object is reclaimed.
  void Finish() {
    TortureObject* old;
    {
      rcu::MutexLock lock(writer_mu);
      old = current.Exchange(nullptr, writer_mu);
    }
    if (old != nullptr) {
      Unpublish(old);
      removed_.push_back(old);
    }
    while (!removed_.empty()) {
      TortureSynchronize();
      AdvanceRemoved();
    }
    // Each Barrier() lets every callback chain advance by at least one step.
    for (int i = 0; i < kPipeLength + 2 && async_in_flight.load() > 0; ++i) rcu::Barrier();
    if (async_in_flight.load() != 0) {
      violations.Report(kLost, std::to_string(async_in_flight.load()) +
                                   " objects still waiting for callbacks after " +
                                   std::to_string(kPipeLength + 2) + " rcu::Barrier() calls");
    }
    rcu::Barrier();  // the last payloads
  }

  void Print() const {
    std::printf("writer updates:          %" PRIu64 "\n", updates_);
    for (int i = 0; i < kNumPaths; ++i) {
      std::printf("  %-28s %" PRIu64 "\n", kPathNames[i], path_counts_[i]);
    }
    std::printf("  PollState() false, retried %" PRIu64
                " times; CondSynchronize() found the cookie complete %" PRIu64
                " times; pool empty %" PRIu64 " times\n",
                poll_retries_, cond_already_complete_, pool_empty_);
  }

 private:
  // Publishes a fresh object; returns the one it replaced (nullptr at the
  // first call, or if stopped while the pool was empty).
  TortureObject* Publish() {
    TortureObject* next = Allocate();
    if (next == nullptr) return nullptr;
    Initialize(next, ++seq_);
    rcu::MutexLock lock(writer_mu);
    return current.Exchange(next, writer_mu);
  }

  TortureObject* Allocate() {
    for (int attempt = 0;; ++attempt) {
      if (TortureObject* obj = pool.Allocate()) return obj;
      ++pool_empty_;
      if (stop.load(std::memory_order_relaxed)) return nullptr;
      if (!removed_.empty()) {
        TortureSynchronize();
        AdvanceRemoved();
      } else {
        PollBackoff(attempt);  // the callback chains return objects
      }
    }
  }

  // `old` is no longer reachable for new readers.
  void Unpublish(TortureObject* old) {
    old->pipe_count.store(1, std::memory_order_relaxed);
    TortureRetire(old->payload.load(std::memory_order_relaxed));
  }

  // A grace period that began after every object in removed_ was unpublished
  // has ended.
  void AdvanceRemoved() {
    std::size_t kept = 0;
    for (TortureObject* obj : removed_) {
      if (!AdvancePipe(obj)) removed_[kept++] = obj;
    }
    removed_.resize(kept);
  }

  void Update(TortureObject* old, UpdatePath path) {
    ++path_counts_[path];
    Unpublish(old);
    switch (path) {
      case kPathSynchronize: {
        removed_.push_back(old);
        const rcu::GracePeriodCookie before = rcu::GetState();
        const std::uint64_t grace_periods = rcu::GetStats().grace_periods;
        TortureSynchronize();
        if (!TorturePollState(before)) {
          violations.Report(kCookieLate, "GetState() cookie after Synchronize()");
        }
        if (!kBreakGracePeriods && rcu::GetStats().grace_periods <= grace_periods) {
          violations.Report(kStatsInconsistent, "grace_periods did not grow across Synchronize()");
        }
        AdvanceRemoved();
        break;
      }
      case kPathCallRcuHead:
        async_in_flight.fetch_add(1, std::memory_order_relaxed);
        TortureCallRcu(old, &HeadStep);
        break;
      case kPathCallRcuLambda:
        async_in_flight.fetch_add(1, std::memory_order_relaxed);
        LambdaStep(old);
        break;
      case kPathRetire:
        async_in_flight.fetch_add(1, std::memory_order_relaxed);
        TortureRetire(old, RetireStep());
        break;
      case kPathStartPoll: {
        removed_.push_back(old);
        const rcu::GracePeriodCookie cookie = rcu::StartPoll();
        for (int attempt = 0; !TorturePollState(cookie); ++attempt) {
          ++poll_retries_;
          PollBackoff(attempt);
        }
        AdvanceRemoved();
        break;
      }
      case kPathCondSynchronize: {
        removed_.push_back(old);
        const rcu::GracePeriodCookie cookie = rcu::GetState();
        // Other threads' grace periods may complete it meanwhile.
        for (int i = 0; i < 4 && !TorturePollState(cookie); ++i) std::this_thread::yield();
        if (TorturePollState(cookie)) ++cond_already_complete_;
        TortureCondSynchronize(cookie);
        if (!TorturePollState(cookie)) {
          violations.Report(kCookieLate, "cookie after CondSynchronize()");
        }
        AdvanceRemoved();
        break;
      }
      case kNumPaths:
        break;
    }
  }

  std::vector<TortureObject*> removed_;  // unpublished, reclaimed by this thread
  std::uint64_t seq_ = 0;
  std::uint64_t updates_ = 0;
  std::array<std::uint64_t, kNumPaths> path_counts_{};
  std::uint64_t poll_retries_ = 0;
  std::uint64_t cond_already_complete_ = 0;
  std::uint64_t pool_empty_ = 0;
};

// ---------------------------------------------------------------------------
// Readers.

struct ReaderStats {
  std::uint64_t sections = 0;
  std::uint64_t nested_sections = 0;
  int deepest_nesting = 0;
  std::uint64_t yields_in_section = 0;
  std::uint64_t observations = 0;
  std::uint64_t cookie_checks = 0;
  std::uint64_t start_polls = 0;
  std::array<std::uint64_t, kPipeLength + 1> pipe_histogram{};  // last: >= kPipeLength
  int oldest = 0;

  void Merge(const ReaderStats& other) {
    sections += other.sections;
    nested_sections += other.nested_sections;
    deepest_nesting = std::max(deepest_nesting, other.deepest_nesting);
    yields_in_section += other.yields_in_section;
    observations += other.observations;
    cookie_checks += other.cookie_checks;
    start_polls += other.start_polls;
    for (int i = 0; i <= kPipeLength; ++i) pipe_histogram[i] += other.pipe_histogram[i];
    oldest = std::max(oldest, other.oldest);
  }
};

class Reader {
 public:
  explicit Reader(int id) : id_(id), rng_(id + 1) {}

  void Run() {
    char name[16];
    std::snprintf(name, sizeof(name), "torture-read%d", id_);
    SetThreadName(name);
    while (!stop.load(std::memory_order_relaxed)) {
      ReadOnce();
      // A little time outside, so that preemption does not always land
      // inside a section.
      for (int i = rng_.Next() & 31; i > 0; --i) CpuRelax();
    }
  }

  const ReaderStats& stats() const { return stats_; }

 private:
  void ReadOnce() {
    rcu::ReadGuard guard;
    ++stats_.sections;
    const TortureObject* obj = current.Dereference(guard);
    const std::uint64_t seq = Observe(obj);
    const std::uint64_t r = rng_.Next();
    // A cookie taken now cannot complete before this section ends.
    const bool check_cookie = (r & 63) == 0;
    rcu::GracePeriodCookie cookie;
    if (check_cookie) {
      ++stats_.cookie_checks;
      if (((r >> 6) & 1023) == 0) {
        ++stats_.start_polls;  // queues a callback from inside a section
        cookie = rcu::StartPoll();
      } else {
        cookie = rcu::GetState();
      }
    }
    if (((r >> 16) & 7) == 0) Nested(1, 1 + static_cast<int>((r >> 19) % kMaxExtraNesting));
    Delay(r >> 24);
    if (((r >> 46) & 8191) == 0) {
      ++stats_.yields_in_section;  // be preempted inside the section
      std::this_thread::yield();
    }
    if (seq != 0) Recheck(obj, seq);
    if (check_cookie && rcu::PollState(cookie)) {
      violations.Report(kCookieEarly,
                        "reader " + std::to_string(id_) + ": cookie taken inside the section");
    }
  }

  void Nested(int level, int extra) {
    rcu::ReadGuard guard;
    ++stats_.nested_sections;
    stats_.deepest_nesting = std::max(stats_.deepest_nesting, level + 1);
    const TortureObject* obj = current.Dereference(guard);
    const std::uint64_t seq = Observe(obj);
    if (level < extra) Nested(level + 1, extra);
    Delay(rng_.Next() & 15);
    if (seq != 0) Recheck(obj, seq);
  }

  void Delay(std::uint64_t r) {
    // Mostly a few dozen pauses; now and then a long one.
    const int spins = (r & 4095) == 0 ? 8192 : static_cast<int>((r >> 12) & 63);
    for (int i = 0; i < spins; ++i) CpuRelax();
  }

  // First sight of `obj`: returns its sequence number, or 0 after a violation.
  std::uint64_t Observe(const TortureObject* obj) {
    // Published in steps of 1024 for the progress lines: a shared write
    // that rare does not change the readers' contention.
    if ((++stats_.observations & 1023) == 0) {
      observations_so_far.fetch_add(1024, std::memory_order_relaxed);
    }
    if (obj == nullptr) {
      violations.Report(kUninitialized, Who() + "no current object");
      return 0;
    }
    const std::uint64_t magic = obj->magic.load(std::memory_order_relaxed);
    if (magic != kLiveMagic) {
      violations.Report(magic == kDeadMagic ? kPoisoned : kUninitialized,
                        Who() + "object magic " + Hex(magic));
      return 0;
    }
    const std::uint64_t seq = obj->seq.load(std::memory_order_relaxed);
    if (!CheckFields(obj, seq) || !CheckPayload(obj, seq)) return 0;
    if (seq < last_seq_) {
      violations.Report(kSequenceBackwards, Who() + "seq " + std::to_string(seq) + " after " +
                                                std::to_string(last_seq_));
    }
    last_seq_ = std::max(last_seq_, seq);
    RecordAge(obj->pipe_count.load(std::memory_order_relaxed), seq);
    return seq;
  }

  // Again, after a delay: the object must be the same, still live, and no
  // grace period may have completed for it.
  void Recheck(const TortureObject* obj, std::uint64_t seq) {
    // Published in steps of 1024 for the progress lines: a shared write
    // that rare does not change the readers' contention.
    if ((++stats_.observations & 1023) == 0) {
      observations_so_far.fetch_add(1024, std::memory_order_relaxed);
    }
    const int pipe = obj->pipe_count.load(std::memory_order_relaxed);
    const std::uint64_t magic = obj->magic.load(std::memory_order_relaxed);
    const std::uint64_t now = obj->seq.load(std::memory_order_relaxed);
    if (magic != kLiveMagic) {
      violations.Report(magic == kDeadMagic ? kPoisoned : kUninitialized,
                        Who() + "object seq " + std::to_string(seq) + " now has magic " +
                            Hex(magic) + ", pipe count " + std::to_string(pipe));
    } else if (now != seq) {
      violations.Report(kChangedUnderReader, Who() + "object seq " + std::to_string(seq) +
                                                 " became seq " + std::to_string(now));
    } else if (CheckFields(obj, seq)) {
      CheckPayload(obj, seq);
    }
    RecordAge(pipe, seq);
  }

  bool CheckFields(const TortureObject* obj, std::uint64_t seq) {
    for (int i = 0; i < kFields; ++i) {
      const std::uint64_t v = obj->fields[i].load(std::memory_order_relaxed);
      if (v != FieldValue(seq, i)) {
        violations.Report(v == kPoison ? kPoisoned : kUninitialized,
                          Who() + "object seq " + std::to_string(seq) + " field " +
                              std::to_string(i) + " = " + Hex(v));
        return false;
      }
    }
    return true;
  }

  bool CheckPayload(const TortureObject* obj, std::uint64_t seq) {
    const Payload* payload = obj->payload.load(std::memory_order_relaxed);
    if (payload == nullptr) {
      violations.Report(
          kPoisoned, Who() + "object seq " + std::to_string(seq) + " has no payload (reclaimed)");
      return false;
    }
    const std::uint64_t magic = payload->magic;
    if (magic != kPayloadLiveMagic) {
      violations.Report(
          magic == kPayloadDeadMagic ? kPoisoned : kUninitialized,
          Who() + "payload of seq " + std::to_string(seq) + " has magic " + Hex(magic));
      return false;
    }
    bool ok = payload->seq == seq;
    for (int i = 0; ok && i < kPayloadWords; ++i) ok = payload->words[i] == PayloadValue(seq, i);
    if (!ok) {
      violations.Report(kUninitialized, Who() + "payload of seq " + std::to_string(seq) +
                                            " holds seq " + Hex(payload->seq));
    }
    return ok;
  }

  void RecordAge(int pipe, std::uint64_t seq) {
    const int bucket = std::min(std::max(pipe, 0), kPipeLength);
    ++stats_.pipe_histogram[bucket];
    stats_.oldest = std::max(stats_.oldest, pipe);
    if (pipe > 1) {
      violations.Report(kPipeTooOld, Who() + "object seq " + std::to_string(seq) +
                                         " has pipe count " + std::to_string(pipe));
    }
  }

  std::string Who() const { return "reader " + std::to_string(id_) + ": "; }

  const int id_;
  Rng rng_;
  std::uint64_t last_seq_ = 0;
  ReaderStats stats_;
};

// ---------------------------------------------------------------------------
// Fake writers: grace periods with nothing to reclaim, concurrently with the
// writer's.

struct FakeWriterStats {
  std::uint64_t synchronize = 0;
  std::uint64_t start_poll = 0;
  std::uint64_t cond_synchronize = 0;
  std::uint64_t barrier = 0;

  void Merge(const FakeWriterStats& other) {
    synchronize += other.synchronize;
    start_poll += other.start_poll;
    cond_synchronize += other.cond_synchronize;
    barrier += other.barrier;
  }
};

class FakeWriter {
 public:
  explicit FakeWriter(int id) : id_(id) {}

  void Run() {
    char name[16];
    std::snprintf(name, sizeof(name), "torture-fake%d", id_);
    SetThreadName(name);
    for (std::uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
      switch (round % 4) {
        case 0: {
          const rcu::GracePeriodCookie before = rcu::GetState();
          TortureSynchronize();
          ++stats_.synchronize;
          if (!TorturePollState(before)) {
            violations.Report(kCookieLate, "fake writer: GetState() cookie after Synchronize()");
          }
          if (!kBreakGracePeriods && rcu::SameState(before, rcu::GetState())) {
            violations.Report(kStatsInconsistent,
                              "fake writer: SameState() across a Synchronize()");
          }
          break;
        }
        case 1: {
          const rcu::GracePeriodCookie cookie = rcu::StartPoll();
          for (int attempt = 0; !TorturePollState(cookie); ++attempt) PollBackoff(attempt);
          ++stats_.start_poll;
          break;
        }
        case 2: {
          const rcu::GracePeriodCookie cookie = rcu::GetState();
          TortureCondSynchronize(cookie);
          ++stats_.cond_synchronize;
          if (!TorturePollState(cookie)) {
            violations.Report(kCookieLate, "fake writer: cookie after CondSynchronize()");
          }
          break;
        }
        case 3:
          if (round % 64 == 3) {
            rcu::Barrier();
            ++stats_.barrier;
          } else {
            TortureSynchronize();
            ++stats_.synchronize;
          }
          break;
      }
    }
  }

  const FakeWriterStats& stats() const { return stats_; }

 private:
  const int id_;
  FakeWriterStats stats_;
};

// ---------------------------------------------------------------------------
// Callback floods: forward progress and a bounded backlog.

std::atomic<std::uint64_t> flood_invoked{0};

class Flooder {
 public:
  void Run() {
    SetThreadName("torture-flood");
    std::uint64_t next_flood = kUpdatesBetweenFloods;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(flood_signal.mu);
        flood_signal.cv.wait(
            lock, [next_flood] { return stop.load() || writer_updates.load() >= next_flood; });
      }
      if (stop.load()) break;
      if (phases_ % 2 == 0) {
        StalledFlood();
      } else {
        FreeFlood();
      }
      ++phases_;
      rcu::Barrier();
      if (flood_invoked.load() != queued_) {
        violations.Report(kLost, "flood: " + std::to_string(queued_) + " queued, " +
                                     std::to_string(flood_invoked.load()) +
                                     " run after rcu::Barrier()");
      }
      next_flood = writer_updates.load(std::memory_order_relaxed) + kUpdatesBetweenFloods;
    }
  }

  void Print() const {
    std::printf("callback floods:         %" PRIu64 " phases (%" PRIu64
                " with a reader holding up grace periods), %" PRIu64 " callbacks\n",
                phases_, stalled_phases_, queued_);
  }

 private:
  void Queue() {
    rcu::CallRcu([] { flood_invoked.fetch_add(1, std::memory_order_relaxed); });
    ++queued_;
    UpdateMax(max_pending, stress::PendingCallbacks(rcu::GetStats()));
  }

  void FreeFlood() {
    for (std::size_t i = 0; i < 5 * kFloodBacklogLimit; ++i) Queue();
  }

  // A reader holds up every grace period, so nothing queued from now on can
  // run: queuing twice the limit must make this thread wait, and the reader
  // leaves once some thread does.
  void StalledFlood() {
    ++stalled_phases_;
    std::atomic<bool> holding{false};
    std::atomic<bool> release{false};
    std::uint64_t waits_before = 0;
    std::thread holder([&] {
      SetThreadName("torture-stall");
      rcu::ReadGuard guard;
      waits_before = rcu::GetStats().backlog_waits;
      holding.store(true, std::memory_order_release);
      while (!release.load(std::memory_order_relaxed) &&
             rcu::GetStats().backlog_waits == waits_before) {
        std::this_thread::yield();
      }
    });
    while (!holding.load(std::memory_order_acquire)) std::this_thread::yield();
    for (std::size_t i = 0; i < 2 * kFloodBacklogLimit; ++i) Queue();
    release.store(true, std::memory_order_relaxed);
    holder.join();
    if (rcu::GetStats().backlog_waits == waits_before) {
      violations.Report(kBacklogUnbounded,
                        "queued " + std::to_string(2 * kFloodBacklogLimit) +
                            " callbacks while a reader held up grace periods, and no "
                            "thread waited for the backlog");
    }
  }

  std::uint64_t phases_ = 0;
  std::uint64_t stalled_phases_ = 0;
  std::uint64_t queued_ = 0;
};

// ---------------------------------------------------------------------------

void PrintHistogram(const ReaderStats& stats) {
  std::printf("pipe-count histogram:   ");
  for (int i = 0; i <= kPipeLength; ++i) {
    std::printf(" %d%s:%" PRIu64, i, i == kPipeLength ? "+" : "", stats.pipe_histogram[i]);
  }
  std::printf("\n");
}

int Main() {
  const double seconds = stress::StressSeconds();
  const int num_readers = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  rcu::SetCallbackBacklogLimit(kFloodBacklogLimit);
  rcu::SetDiagnosticHandler(
      [](const rcu::Diagnostic& d) { violations.Report(kDiagnosticReported, d.message); });
  if (rcu::CallbackBacklogLimit() != kFloodBacklogLimit) {
    violations.Report(kStatsInconsistent, "CallbackBacklogLimit() != the limit just set");
  }
  if (!rcu::PollState(rcu::CompletedState()) ||
      !rcu::SameState(rcu::CompletedState(), rcu::GracePeriodCookie()) ||
      rcu::SameState(rcu::GetState(), rcu::CompletedState())) {
    violations.Report(kStatsInconsistent, "CompletedState() cookies");
  }

  std::printf(
      "rcu_torture_test%s: %g s, %d readers, 1 writer, %d fake writers, 1 flood "
      "thread; pipe length %d, pool %zu objects, backlog limit %zu\n",
      kBreakGracePeriods ? " (TORTURE_BREAK_GRACE_PERIOD: grace periods skipped)" : "", seconds,
      num_readers, kFakeWriters, kPipeLength, kPoolSize, kFloodBacklogLimit);
  std::fflush(stdout);
  const rcu::Stats before = rcu::GetStats();

  Writer writer;
  std::vector<std::unique_ptr<Reader>> readers;
  std::vector<std::unique_ptr<FakeWriter>> fake_writers;
  Flooder flooder;
  std::vector<std::thread> threads;
  writer.Start();
  threads.emplace_back([&] { writer.Run(); });
  for (int i = 0; i < num_readers; ++i) {
    readers.push_back(std::make_unique<Reader>(i));
    threads.emplace_back([r = readers.back().get()] { r->Run(); });
  }
  for (int i = 0; i < kFakeWriters; ++i) {
    fake_writers.push_back(std::make_unique<FakeWriter>(i));
    threads.emplace_back([f = fake_writers.back().get()] { f->Run(); });
  }
  threads.emplace_back([&] { flooder.Run(); });

  // Sample the backlog until the time is up.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(seconds));
  std::uint64_t samples = 0;
  stress::Progress progress(
      seconds, [] { return observations_so_far.load(std::memory_order_relaxed); },
      [] { return violations.Total(); });
  while (std::chrono::steady_clock::now() < deadline) {
    progress.Tick();
    UpdateMax(max_pending, stress::PendingCallbacks(rcu::GetStats()));
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop.store(true);
  flood_signal.Notify();
  for (std::thread& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  writer.Finish();

  // Everything must be back.
  const rcu::Stats after = rcu::GetStats();
  if (pool.FreeCount() != kPoolSize) {
    violations.Report(kLost, std::to_string(kPoolSize - pool.FreeCount()) +
                                 " objects never returned to the pool");
  }
  if (payloads_allocated.load() != payloads_freed.load()) {
    violations.Report(kLost, std::to_string(payloads_allocated.load()) + " payloads allocated, " +
                                 std::to_string(payloads_freed.load()) + " freed");
  }
  if (after.callbacks_queued != after.callbacks_invoked) {
    violations.Report(kLost, "after rcu::Barrier(): callbacks_queued " +
                                 std::to_string(after.callbacks_queued) + " != callbacks_invoked " +
                                 std::to_string(after.callbacks_invoked));
  }
  if (after.callbacks_failed != 0) {
    violations.Report(kStatsInconsistent,
                      "callbacks_failed " + std::to_string(after.callbacks_failed));
  }
  if (max_pending.load() > kFloodBacklogLimit + kBacklogSlack) {
    violations.Report(kBacklogUnbounded, "up to " + std::to_string(max_pending.load()) +
                                             " callbacks waiting; limit " +
                                             std::to_string(kFloodBacklogLimit));
  }

  ReaderStats reads;
  for (const auto& r : readers) reads.Merge(r->stats());
  FakeWriterStats fakes;
  for (const auto& f : fake_writers) fakes.Merge(f->stats());

  std::printf("ran %.2f s\n", elapsed);
  std::printf("reader sections:         %" PRIu64 " (%" PRIu64
              " nested; deepest nesting %d; %" PRIu64 " yielded the CPU inside)\n",
              reads.sections, reads.nested_sections, reads.deepest_nesting,
              reads.yields_in_section);
  std::printf("reader observations:     %" PRIu64 "\n", reads.observations);
  PrintHistogram(reads);
  std::printf("oldest age seen:         %d (pipe count; a reader may see 0 or 1)\n", reads.oldest);
  std::printf("cookies in read sections: %" PRIu64 " checked (%" PRIu64
              " from StartPoll), none may complete inside\n",
              reads.cookie_checks, reads.start_polls);
  writer.Print();
  std::printf("objects recycled:        %" PRIu64 "; payloads allocated %" PRIu64 ", freed %" PRIu64
              "\n",
              objects_recycled.load(), payloads_allocated.load(), payloads_freed.load());
  std::printf("fake writers:            synchronize %" PRIu64 ", start_poll %" PRIu64
              ", cond_synchronize %" PRIu64 ", barrier %" PRIu64 "\n",
              fakes.synchronize, fakes.start_poll, fakes.cond_synchronize, fakes.barrier);
  flooder.Print();
  std::printf("grace periods completed: %" PRIu64
              " (rcu::GetStats, Synchronize/CondSynchronize/"
              "StartPoll)\n",
              after.grace_periods - before.grace_periods);
  std::printf("callbacks:               queued %" PRIu64 ", invoked %" PRIu64 ", failed %" PRIu64
              "\n",
              after.callbacks_queued - before.callbacks_queued,
              after.callbacks_invoked - before.callbacks_invoked, after.callbacks_failed);
  std::printf("callback backlog:        limit %zu, max pending %" PRIu64 " (bound %" PRIu64
              "; %" PRIu64 " samples), backlog waits %" PRIu64 "\n",
              rcu::CallbackBacklogLimit(), max_pending.load(), kFloodBacklogLimit + kBacklogSlack,
              samples, after.backlog_waits - before.backlog_waits);
  std::printf("threads:                 registered %" PRIu64 ", unregistered %" PRIu64
              "; stalls reported %" PRIu64 "\n",
              after.threads_registered, after.threads_unregistered, after.stalls_reported);

  return violations.Verdict();
}

}  // namespace

int main() { return Main(); }
