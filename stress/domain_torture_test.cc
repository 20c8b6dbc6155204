// stress/domain_torture_test.cc: torture test of rcu::Domain (rcu/domain.h),
// stress/rcu_torture_test.cc's age check with several domains at once.
//
// For RCU_STRESS_SECONDS seconds (default 10; --seconds=S overrides) these
// threads run together on three rcu::Domains ("torture-a", "torture-b",
// "torture-c") and the default domain:
//  - one writer per domain keeps replacing the object that the domain's
//    readers see (an rcu::RcuPtr exchanged under the domain's rcu::Mutex) and
//    hands the old one to each of the domain's update paths in turn:
//    Synchronize(), SynchronizeExpedited(), CallRcu() with an embedded head,
//    CallRcu() with a lambda, Retire() with a deleter, StartPoll() +
//    PollState(), GetState() + CondSynchronize(). Each object owns a heap
//    payload (an rcu::RcuObjBase) retired through the same domain when the
//    object is unpublished;
//  - fast readers: a section of a random domain (a Domain::ReadGuard, or an
//    rcu::ReadGuard for the default domain) nesting sections of other
//    domains and of the same one, up to 5 deep, each checking its object;
//  - sleeping readers: a section of a domain (a guard or a token), maybe with
//    one of another domain nested in it, that sleeps, or blocks until the
//    writer of a third domain has published twice more (so that domain's
//    grace periods must complete while this section is open: independence),
//    and then checks its objects again;
//  - cross-thread tokens (of "torture-b" and "torture-c"; "torture-a" keeps
//    to thread-bound sections): sections begun with BeginRead() by one thread
//    (a long-lived producer, and short-lived threads that exit right after),
//    handed through a queue to short-lived consumer threads that read the
//    object, maybe sleep, maybe hand the token on once more, and end it
//    (End(), destruction, or move-assignment); thread exits and slot-index
//    reuse are continuous;
//  - fake writers: grace periods of every domain (plain, expedited, polled,
//    conditional) and Barrier(), with nothing to reclaim;
//  - a flooder queues bursts of callbacks into each domain; "torture-c" has
//    a small backlog limit, and its backlog is checked;
//  - a churn thread creates short-lived domains, reads, retires and queues
//    callbacks (that queue more) through them, and destroys them.
//
// What counts as a violation (the exit status is then 1):
//  - Pipe count, per domain. An object's pipe count becomes 1 when it is
//    unpublished and goes up by one after every later grace period of its
//    domain; at kPipeLength it is poisoned and recycled. A reader that holds
//    the object began its section before the unpublish, so it may see 0 or
//    1; 2 or more means a grace period of that domain ended while a section
//    that predates it was still open.
//  - Poison. Objects and payloads are poisoned when reclaimed (payloads are
//    then freed: AddressSanitizer sees a use after free). A reader must never
//    see poison, a field that does not match the object's sequence number,
//    an object that changes under it, or an older object after a newer one
//    of the same domain on the same thread.
//  - Cookies. A cookie of a domain taken inside a section of it must not
//    complete before the section ends (for tokens: before End(), on whichever
//    thread); one taken before Synchronize() or passed to CondSynchronize()
//    must be complete afterwards.
//  - The backlog of "torture-c" never exceeds its limit after a CallRcu()
//    returns (unless one of its grace periods was reported stalled).
//  - Nothing lost: after the run every object is back in its pool, every
//    payload freed, every flood and churn callback run (a domain's destructor
//    runs its callbacks and the ones they queue).
//  - A hang: if the threads have not finished --hang_seconds (120) after the
//    run (a grace period that never ends), the test prints every thread's
//    stack, reports and exits. After the first violation the run stops a
//    second later, and waits only 5 s for the threads.
//  - Any rcu::Diagnostic report.
//
// Time only bounds the run and paces polling; no thread waits a fixed time
// for another to do something. Sleeping readers sleep because sleeping in a
// section is what they test.
//
// Options: --seconds=S; --one_cpu (pins the process to one CPU);
// --no_membarrier (re-executes itself under a seccomp filter that refuses
// the membarrier() system call, so readers of both liburcu and the domains
// fence themselves).
//
// Negative control: //stress:domain_torture_broken links
// //rcu:rcu_with_domain_bug_for_testing, whose grace periods skip the
// sections of half the threads; //stress:domain_torture_negative_control_test
// checks that it fails.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rcu/rcu.h"
#include "rcu/domain.h"
#include "rcu/stall.h"
#include "stress/stress_util.h"
#include "tests/util/no_membarrier.h"

namespace {

using stress::Rng;
using stress::SetThreadName;

// The domains under test: index 0 is the default domain.
constexpr int kNumDomains = 4;
constexpr int kPipeLength = 10;
constexpr int kFields = 4;
constexpr int kPayloadWords = 4;
constexpr std::size_t kPoolSize = 64;  // per domain
constexpr int kFastReaders = 2;
constexpr int kSleepingReaders = 4;
constexpr int kFakeWriters = 2;
constexpr int kConsumers = 2;
constexpr int kMaxNesting = 5;
constexpr std::size_t kTokenQueueCapacity = 8;
// "torture-c"'s backlog limit: small, so that floods cross it.
constexpr std::size_t kSmallBacklogLimit = 2000;
constexpr int kSmallBacklogDomain = 3;
// Tokens that move across threads are of domains [kFirstCrossThreadDomain,
// kNumDomains): "torture-a" has only sections that end on the thread that
// began them. (So that in the negative control, whose grace periods skip
// some threads' counts, the age check has a domain that the broken counts
// of moved tokens cannot wedge: a token begun on a skipped thread and ended
// on a counted one leaves that broken build's sums unequal for good.)
constexpr int kFirstCrossThreadDomain = 2;
// How long after the end of the run the threads must have finished, by
// default (--hang_seconds=S).
constexpr double kDefaultHangSeconds = 120;

constexpr std::uint64_t kLiveMagic = 0x4c49564544524355;  // "LIVEDRCU"
constexpr std::uint64_t kDeadMagic = 0xdeadbeefdeadbeef;
constexpr std::uint64_t kPayloadLiveMagic = 0x5041594c4f414432;  // "PAYLOAD2"
constexpr std::uint64_t kPayloadDeadMagic = 0xdeaddeaddeaddead;
constexpr std::uint64_t kPoison = 0x6b6b6b6b6b6b6b6b;

std::uint64_t FieldValue(int domain, std::uint64_t seq, int i) {
  return (seq * 0x9e3779b97f4a7c15) ^ (static_cast<std::uint64_t>(i + 1) * 0xbf58476d1ce4e5b9) ^
         static_cast<std::uint64_t>(domain);
}

std::uint64_t PayloadValue(std::uint64_t seq, int i) {
  return (seq * 0x94d049bb133111eb) ^ (static_cast<std::uint64_t>(i + 1) * 0x2545f4914f6cdd1d);
}

inline void KeepStores(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

void UpdateMax(std::atomic<std::uint64_t>& max, std::uint64_t value) {
  std::uint64_t current = max.load(std::memory_order_relaxed);
  while (value > current && !max.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

// Backoff for a thread that polls a cookie or the pool (the caller loops on
// its condition; the sleep is never what it waits for).
void PollBackoff(int attempt) {
  if (attempt < 16) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

std::string Hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
  return buf;
}

// A small serial per thread, to tell whether a token changed threads.
std::atomic<std::uint64_t> next_thread_serial{1};
std::uint64_t ThreadSerial() {
  thread_local const std::uint64_t serial = next_thread_serial.fetch_add(1);
  return serial;
}

std::atomic<std::uint64_t> threads_started{0};

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
  kHang,
  kDiagnosticReported,
  kNumViolations,
};

constexpr const char* kViolationNames[kNumViolations] = {
    "grace period ended early (reader saw pipe count > 1)",
    "reader saw a poisoned (reclaimed) object or payload",
    "reader saw a field that does not match its object (publication order)",
    "object changed under a reader (recycled too early)",
    "reader saw an older object after a newer one",
    "cookie completed while a section older than it was still open",
    "cookie not completed after Synchronize()/CondSynchronize()",
    "callback backlog not bounded",
    "callbacks, objects or payloads lost",
    "threads did not finish (a grace period or barrier never ended)",
    "rcu diagnostic reported",
};

stress::Violations<kNumViolations> violations(kViolationNames);

std::atomic<bool> stop{false};

// ---------------------------------------------------------------------------
// The objects readers see.

struct TortureDomain;

std::atomic<std::uint64_t> payloads_allocated{0};
std::atomic<std::uint64_t> payloads_freed{0};

// Heap-allocated; retired through its object's domain with Retire() (no
// allocation) when the object is unpublished, and poisoned as it is freed.
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

// Recycled through its domain's pool, never freed during the run. Relaxed
// atomics keep even the negative control free of data races.
struct TortureObject : rcu::RcuHead {
  TortureDomain* owner = nullptr;
  std::atomic<std::uint64_t> magic{kDeadMagic};
  std::atomic<int> pipe_count{kPipeLength};
  std::atomic<std::uint64_t> seq{kPoison};
  std::array<std::atomic<std::uint64_t>, kFields> fields{};
  std::atomic<Payload*> payload{nullptr};
};

// A cookie of either kind of domain.
struct Cookie {
  rcu::GracePeriodCookie core{};
  rcu::Domain::Cookie domain;
};

// One domain under test (the default domain when `domain` is null), with
// everything its writer and readers share.
struct TortureDomain {
  TortureDomain(int i, std::string n, rcu::Domain* d) : id(i), name(std::move(n)), domain(d) {
    for (std::size_t k = 0; k < kPoolSize; ++k) {
      storage.push_back(std::make_unique<TortureObject>());
      storage.back()->owner = this;
      free_objects.push_back(storage.back().get());
    }
  }

  // The update side, on whichever kind of domain this is.
  void Synchronize() {
    domain ? domain->Synchronize() : rcu::Synchronize();
    grace_period_waits.fetch_add(1, std::memory_order_relaxed);
  }
  void SynchronizeExpedited() {
    domain ? domain->SynchronizeExpedited() : rcu::SynchronizeExpedited();
    grace_period_waits.fetch_add(1, std::memory_order_relaxed);
  }
  Cookie GetState() {
    Cookie c;
    if (domain) {
      c.domain = domain->GetState();
    } else {
      c.core = rcu::GetState();
    }
    return c;
  }
  Cookie StartPoll() {
    Cookie c;
    if (domain) {
      c.domain = domain->StartPoll();
    } else {
      c.core = rcu::StartPoll();
    }
    return c;
  }
  bool PollState(const Cookie& c) {
    return domain ? domain->PollState(c.domain) : rcu::PollState(c.core);
  }
  void CondSynchronize(const Cookie& c) {
    domain ? domain->CondSynchronize(c.domain) : rcu::CondSynchronize(c.core);
    grace_period_waits.fetch_add(1, std::memory_order_relaxed);
  }
  void CallRcu(rcu::RcuHead* head, void (*fn)(rcu::RcuHead*)) {
    domain ? domain->CallRcu(head, fn) : rcu::CallRcu(head, fn);
  }
  template <typename F>
  void CallRcu(F fn) {
    domain ? domain->CallRcu(std::move(fn)) : rcu::CallRcu(std::move(fn));
  }
  template <typename T, typename D>
  void Retire(T* p, D d) {
    domain ? domain->Retire(p, std::move(d)) : rcu::Retire(p, std::move(d));
  }
  void RetirePayload(Payload* p) { domain ? domain->Retire(p) : rcu::Retire(p); }
  void Barrier() { domain ? domain->Barrier() : rcu::Barrier(); }

  TortureObject* Allocate() {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (free_objects.empty()) return nullptr;
    TortureObject* obj = free_objects.back();
    free_objects.pop_back();
    return obj;
  }
  void Free(TortureObject* obj) {
    std::lock_guard<std::mutex> lock(pool_mu);
    free_objects.push_back(obj);
  }
  std::size_t FreeCount() {
    std::lock_guard<std::mutex> lock(pool_mu);
    return free_objects.size();
  }

  // Sleeping readers wait for this domain's writer to publish.
  void NotePublished() {
    updates.fetch_add(1, std::memory_order_seq_cst);
    if (progress_waiters.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(progress_mu);
      progress_cv.notify_all();
    }
  }
  // Waits until the writer has published `n` more times (or the run stops).
  void WaitForUpdates(std::uint64_t n) {
    const std::uint64_t target = updates.load(std::memory_order_seq_cst) + n;
    progress_waiters.fetch_add(1, std::memory_order_seq_cst);
    {
      std::unique_lock<std::mutex> lock(progress_mu);
      progress_cv.wait(lock, [&] {
        return updates.load(std::memory_order_seq_cst) >= target ||
               stop.load(std::memory_order_relaxed);
      });
    }
    progress_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
  void WakeWaiters() {
    std::lock_guard<std::mutex> lock(progress_mu);
    progress_cv.notify_all();
  }

  const int id;
  const std::string name;
  rcu::Domain* const domain;

  rcu::Mutex writer_mu;
  rcu::RcuPtr<TortureObject> current;  // exchanged under writer_mu

  std::mutex pool_mu;
  std::vector<TortureObject*> free_objects;  // guarded by pool_mu
  std::vector<std::unique_ptr<TortureObject>> storage;

  std::atomic<std::uint64_t> updates{0};
  std::atomic<int> progress_waiters{0};
  std::mutex progress_mu;
  std::condition_variable progress_cv;

  std::atomic<std::int64_t> async_in_flight{0};
  std::atomic<std::uint64_t> objects_recycled{0};
  std::atomic<std::uint64_t> callback_steps{0};
  std::atomic<std::uint64_t> grace_period_waits{0};
  std::atomic<std::uint64_t> fake_grace_periods{0};
  std::atomic<std::uint64_t> barriers{0};
  std::atomic<std::uint64_t> flood_run{0};
  std::atomic<std::uint64_t> flood_queued{0};
  std::atomic<std::uint64_t> flood_max_pending{0};
  std::atomic<std::uint64_t> stalls_reported{0};
};

std::vector<std::unique_ptr<rcu::Domain>> domains;     // [1, kNumDomains)
std::vector<std::unique_ptr<TortureDomain>> tortured;  // [0, kNumDomains)

TortureDomain& Tortured(int i) { return *tortured[static_cast<std::size_t>(i)]; }

void Initialize(TortureDomain& d, TortureObject* obj, std::uint64_t seq) {
  obj->pipe_count.store(0, std::memory_order_relaxed);
  obj->seq.store(seq, std::memory_order_relaxed);
  for (int i = 0; i < kFields; ++i) {
    obj->fields[i].store(FieldValue(d.id, seq, i), std::memory_order_relaxed);
  }
  obj->payload.store(new Payload(seq), std::memory_order_relaxed);
  obj->magic.store(kLiveMagic, std::memory_order_relaxed);
}

void Reclaim(TortureObject* obj) {
  obj->magic.store(kDeadMagic, std::memory_order_relaxed);
  obj->seq.store(kPoison, std::memory_order_relaxed);
  for (auto& field : obj->fields) field.store(kPoison, std::memory_order_relaxed);
  obj->payload.store(nullptr, std::memory_order_relaxed);
  obj->owner->objects_recycled.fetch_add(1, std::memory_order_relaxed);
  obj->owner->Free(obj);
}

// One more grace period of its domain has ended since `obj` was unpublished.
// Returns true if that reclaimed it. One updater per object at a time.
bool AdvancePipe(TortureObject* obj) {
  const int pipe = obj->pipe_count.load(std::memory_order_relaxed) + 1;
  obj->pipe_count.store(pipe, std::memory_order_relaxed);
  if (pipe < kPipeLength) return false;
  Reclaim(obj);
  return true;
}

// The asynchronous paths: each callback advances the pipe count by one and,
// until the object is reclaimed, queues itself again on the same domain.
void AsyncDone(TortureObject* obj) {
  obj->owner->async_in_flight.fetch_sub(1, std::memory_order_relaxed);
}

void HeadStep(rcu::RcuHead* head) {
  auto* obj = static_cast<TortureObject*>(head);
  TortureDomain* d = obj->owner;
  d->callback_steps.fetch_add(1, std::memory_order_relaxed);
  if (AdvancePipe(obj)) {
    AsyncDone(obj);
  } else {
    d->CallRcu(obj, &HeadStep);
  }
}

void LambdaStep(TortureObject* obj) {
  obj->owner->CallRcu([obj] {
    obj->owner->callback_steps.fetch_add(1, std::memory_order_relaxed);
    TortureDomain* d = obj->owner;
    if (AdvancePipe(obj)) {
      d->async_in_flight.fetch_sub(1, std::memory_order_relaxed);
    } else {
      LambdaStep(obj);
    }
  });
}

struct RetireStep {
  void operator()(TortureObject* obj) const {
    TortureDomain* d = obj->owner;
    d->callback_steps.fetch_add(1, std::memory_order_relaxed);
    if (AdvancePipe(obj)) {
      d->async_in_flight.fetch_sub(1, std::memory_order_relaxed);
    } else {
      d->Retire(obj, RetireStep());
    }
  }
};

// ---------------------------------------------------------------------------
// The writers, one per domain.

enum UpdatePath {
  kPathSynchronize,
  kPathSynchronizeExpedited,
  kPathCallRcuHead,
  kPathCallRcuLambda,
  kPathRetire,
  kPathStartPoll,
  kPathCondSynchronize,
  kNumPaths,
};

constexpr const char* kPathNames[kNumPaths] = {
    "synchronize",
    "synchronize_expedited",
    "call_rcu(head)",
    "call_rcu(lambda)",
    "retire",
    "start_poll+poll_state",
    "get_state+cond_synchronize",
};

class Writer {
 public:
  explicit Writer(TortureDomain& d) : d_(d) {}

  void Start() { Publish(); }

  void Run() {
    threads_started.fetch_add(1);
    SetThreadName(("w-" + d_.name).substr(0, 15).c_str());
    while (!stop.load(std::memory_order_relaxed)) {
      TortureObject* old = Publish();
      if (old == nullptr) break;
      Update(old, static_cast<UpdatePath>(updates_ % kNumPaths));
      ++updates_;
    }
  }

  // After every other thread has stopped: unpublishes the last object and
  // waits until every object is reclaimed.
  void Finish() {
    TortureObject* old;
    {
      rcu::MutexLock lock(d_.writer_mu);
      old = d_.current.Exchange(nullptr, d_.writer_mu);
    }
    if (old != nullptr) {
      Unpublish(old);
      removed_.push_back(old);
    }
    while (!removed_.empty()) {
      d_.Synchronize();
      AdvanceRemoved();
    }
    for (int i = 0; i < kPipeLength + 2 && d_.async_in_flight.load() > 0; ++i) d_.Barrier();
    if (d_.async_in_flight.load() != 0) {
      violations.Report(kLost, d_.name + ": " + std::to_string(d_.async_in_flight.load()) +
                                   " objects still waiting for callbacks after " +
                                   std::to_string(kPipeLength + 2) + " Barrier() calls");
    }
    d_.Barrier();  // the last payloads
  }

  void Print() const {
    std::printf("  writer updates %" PRIu64 ":", updates_);
    for (int i = 0; i < kNumPaths; ++i) std::printf(" %s %" PRIu64 ";", kPathNames[i], paths_[i]);
    std::printf(" pool empty %" PRIu64 "\n", pool_empty_);
  }

 private:
  TortureObject* Publish() {
    TortureObject* next = Allocate();
    if (next == nullptr) return nullptr;
    Initialize(d_, next, ++seq_);
    TortureObject* old;
    {
      rcu::MutexLock lock(d_.writer_mu);
      old = d_.current.Exchange(next, d_.writer_mu);
    }
    d_.NotePublished();
    return old;
  }

  TortureObject* Allocate() {
    for (int attempt = 0;; ++attempt) {
      if (TortureObject* obj = d_.Allocate()) return obj;
      ++pool_empty_;
      if (stop.load(std::memory_order_relaxed)) return nullptr;
      if (!removed_.empty()) {
        d_.Synchronize();
        AdvanceRemoved();
      } else {
        PollBackoff(attempt);  // the callback chains return objects
      }
    }
  }

  void Unpublish(TortureObject* old) {
    old->pipe_count.store(1, std::memory_order_relaxed);
    d_.RetirePayload(old->payload.load(std::memory_order_relaxed));
  }

  void AdvanceRemoved() {
    std::size_t kept = 0;
    for (TortureObject* obj : removed_) {
      if (!AdvancePipe(obj)) removed_[kept++] = obj;
    }
    removed_.resize(kept);
  }

  void Update(TortureObject* old, UpdatePath path) {
    ++paths_[path];
    Unpublish(old);
    switch (path) {
      case kPathSynchronize:
      case kPathSynchronizeExpedited: {
        removed_.push_back(old);
        const Cookie before = d_.GetState();
        if (path == kPathSynchronize) {
          d_.Synchronize();
        } else {
          d_.SynchronizeExpedited();
        }
        if (!d_.PollState(before)) {
          violations.Report(kCookieLate, d_.name + ": GetState() cookie after " + kPathNames[path]);
        }
        AdvanceRemoved();
        break;
      }
      case kPathCallRcuHead:
        d_.async_in_flight.fetch_add(1, std::memory_order_relaxed);
        d_.CallRcu(old, &HeadStep);
        break;
      case kPathCallRcuLambda:
        d_.async_in_flight.fetch_add(1, std::memory_order_relaxed);
        LambdaStep(old);
        break;
      case kPathRetire:
        d_.async_in_flight.fetch_add(1, std::memory_order_relaxed);
        d_.Retire(old, RetireStep());
        break;
      case kPathStartPoll: {
        removed_.push_back(old);
        const Cookie cookie = d_.StartPoll();
        for (int attempt = 0; !d_.PollState(cookie); ++attempt) PollBackoff(attempt);
        d_.grace_period_waits.fetch_add(1, std::memory_order_relaxed);
        AdvanceRemoved();
        break;
      }
      case kPathCondSynchronize: {
        removed_.push_back(old);
        const Cookie cookie = d_.GetState();
        for (int i = 0; i < 4 && !d_.PollState(cookie); ++i) std::this_thread::yield();
        d_.CondSynchronize(cookie);
        if (!d_.PollState(cookie)) {
          violations.Report(kCookieLate, d_.name + ": cookie after CondSynchronize()");
        }
        AdvanceRemoved();
        break;
      }
      case kNumPaths:
        break;
    }
  }

  TortureDomain& d_;
  std::vector<TortureObject*> removed_;
  std::uint64_t seq_ = 0;
  std::uint64_t updates_ = 0;
  std::array<std::uint64_t, kNumPaths> paths_{};
  std::uint64_t pool_empty_ = 0;
};

// ---------------------------------------------------------------------------
// The checks every reader makes, with per-domain counts.

struct DomainReadStats {
  std::uint64_t sections = 0;      // guards (and tokens begun)
  std::uint64_t observations = 0;  // objects seen, each age-checked
  std::uint64_t rechecks = 0;      // age checks again later in the section
  std::uint64_t cookie_checks = 0;
  std::array<std::uint64_t, kPipeLength + 1> pipe_histogram{};
  int oldest = 0;

  void Merge(const DomainReadStats& o) {
    sections += o.sections;
    observations += o.observations;
    rechecks += o.rechecks;
    cookie_checks += o.cookie_checks;
    for (int i = 0; i <= kPipeLength; ++i) pipe_histogram[i] += o.pipe_histogram[i];
    oldest = std::max(oldest, o.oldest);
  }
};

struct ReadStats {
  std::array<DomainReadStats, kNumDomains> per_domain{};
  std::uint64_t nested_sections = 0;
  std::uint64_t cross_domain_nestings = 0;
  int deepest_nesting = 0;
  std::uint64_t sleeps = 0;
  std::uint64_t blocked_on_other_domain = 0;
  std::uint64_t tokens_begun = 0;
  std::uint64_t tokens_moved = 0;     // ended or handed on by a thread that did not begin it
  std::uint64_t token_hops = 0;       // handed on again by a consumer
  std::uint64_t tokens_orphaned = 0;  // begun by a thread that exited before its end
  std::uint64_t tokens_ended_end = 0;
  std::uint64_t tokens_ended_assign = 0;
  std::uint64_t tokens_ended_destroy = 0;

  void Merge(const ReadStats& o) {
    for (int i = 0; i < kNumDomains; ++i) per_domain[i].Merge(o.per_domain[i]);
    nested_sections += o.nested_sections;
    cross_domain_nestings += o.cross_domain_nestings;
    deepest_nesting = std::max(deepest_nesting, o.deepest_nesting);
    sleeps += o.sleeps;
    blocked_on_other_domain += o.blocked_on_other_domain;
    tokens_begun += o.tokens_begun;
    tokens_moved += o.tokens_moved;
    token_hops += o.token_hops;
    tokens_orphaned += o.tokens_orphaned;
    tokens_ended_end += o.tokens_ended_end;
    tokens_ended_assign += o.tokens_ended_assign;
    tokens_ended_destroy += o.tokens_ended_destroy;
  }
};

// Readers that exit (short-lived threads) add their counts here.
std::mutex totals_mu;
ReadStats totals;  // guarded by totals_mu

class Checker {
 public:
  explicit Checker(std::string who) : who_(std::move(who)) {}
  ~Checker() { Flush(); }

  // Adds this thread's counts to the totals (and starts again from zero).
  void Flush() {
    std::lock_guard<std::mutex> lock(totals_mu);
    totals.Merge(stats_);
    stats_ = ReadStats();
  }

  ReadStats& stats() { return stats_; }

  // First sight of `obj` in a section of `d`: returns its sequence number,
  // or 0 after a violation.
  std::uint64_t Observe(const TortureDomain& d, const TortureObject* obj) {
    DomainReadStats& s = stats_.per_domain[d.id];
    ++s.observations;
    if (obj == nullptr) {
      violations.Report(kUninitialized, Who(d) + "no current object");
      return 0;
    }
    const std::uint64_t magic = obj->magic.load(std::memory_order_relaxed);
    if (magic != kLiveMagic) {
      violations.Report(magic == kDeadMagic ? kPoisoned : kUninitialized,
                        Who(d) + "object magic " + Hex(magic));
      return 0;
    }
    const std::uint64_t seq = obj->seq.load(std::memory_order_relaxed);
    if (!CheckFields(d, obj, seq) || !CheckPayload(d, obj, seq)) return 0;
    if (seq < last_seq_[d.id]) {
      violations.Report(kSequenceBackwards, Who(d) + "seq " + std::to_string(seq) + " after " +
                                                std::to_string(last_seq_[d.id]));
    }
    last_seq_[d.id] = std::max(last_seq_[d.id], seq);
    RecordAge(d, obj->pipe_count.load(std::memory_order_relaxed), seq);
    return seq;
  }

  // Again, later in the same section: the same object, live, and no grace
  // period of `d` may have completed for it.
  void Recheck(const TortureDomain& d, const TortureObject* obj, std::uint64_t seq) {
    if (seq == 0) return;
    ++stats_.per_domain[d.id].rechecks;
    const int pipe = obj->pipe_count.load(std::memory_order_relaxed);
    const std::uint64_t magic = obj->magic.load(std::memory_order_relaxed);
    const std::uint64_t now = obj->seq.load(std::memory_order_relaxed);
    if (magic != kLiveMagic) {
      violations.Report(magic == kDeadMagic ? kPoisoned : kUninitialized,
                        Who(d) + "object seq " + std::to_string(seq) + " now has magic " +
                            Hex(magic) + ", pipe count " + std::to_string(pipe));
    } else if (now != seq) {
      violations.Report(kChangedUnderReader, Who(d) + "object seq " + std::to_string(seq) +
                                                 " became seq " + std::to_string(now));
    } else if (CheckFields(d, obj, seq)) {
      CheckPayload(d, obj, seq);
    }
    RecordAge(d, pipe, seq);
  }

  // A cookie of `d` taken inside a section that is still open.
  void CheckCookieOpen(TortureDomain& d, const Cookie& cookie, const char* what) {
    ++stats_.per_domain[d.id].cookie_checks;
    if (d.PollState(cookie)) {
      violations.Report(kCookieEarly,
                        Who(d) + "cookie taken inside a " + what + " completed before it ended");
    }
  }

  std::string Who(const TortureDomain& d) const { return d.name + ": " + who_ + ": "; }

 private:
  bool CheckFields(const TortureDomain& d, const TortureObject* obj, std::uint64_t seq) {
    for (int i = 0; i < kFields; ++i) {
      const std::uint64_t v = obj->fields[i].load(std::memory_order_relaxed);
      if (v != FieldValue(d.id, seq, i)) {
        violations.Report(v == kPoison ? kPoisoned : kUninitialized,
                          Who(d) + "object seq " + std::to_string(seq) + " field " +
                              std::to_string(i) + " = " + Hex(v));
        return false;
      }
    }
    return true;
  }

  bool CheckPayload(const TortureDomain& d, const TortureObject* obj, std::uint64_t seq) {
    const Payload* payload = obj->payload.load(std::memory_order_relaxed);
    if (payload == nullptr) {
      violations.Report(
          kPoisoned, Who(d) + "object seq " + std::to_string(seq) + " has no payload (reclaimed)");
      return false;
    }
    const std::uint64_t magic = payload->magic;
    if (magic != kPayloadLiveMagic) {
      violations.Report(
          magic == kPayloadDeadMagic ? kPoisoned : kUninitialized,
          Who(d) + "payload of seq " + std::to_string(seq) + " has magic " + Hex(magic));
      return false;
    }
    bool ok = payload->seq == seq;
    for (int i = 0; ok && i < kPayloadWords; ++i) ok = payload->words[i] == PayloadValue(seq, i);
    if (!ok) {
      violations.Report(kUninitialized, Who(d) + "payload of seq " + std::to_string(seq) +
                                            " holds seq " + Hex(payload->seq));
    }
    return ok;
  }

  void RecordAge(const TortureDomain& d, int pipe, std::uint64_t seq) {
    DomainReadStats& s = stats_.per_domain[d.id];
    ++s.pipe_histogram[std::min(std::max(pipe, 0), kPipeLength)];
    s.oldest = std::max(s.oldest, pipe);
    if (pipe > 1) {
      violations.Report(kPipeTooOld, Who(d) + "object seq " + std::to_string(seq) +
                                         " has pipe count " + std::to_string(pipe));
    }
  }

  const std::string who_;
  ReadStats stats_;
  std::array<std::uint64_t, kNumDomains> last_seq_{};
};

// Runs `body(obj)` inside a new section of `d` on this thread (a ReadGuard of
// its kind), with `obj` the object `d` publishes.
template <typename Body>
void InGuard(TortureDomain& d, Body&& body) {
  if (d.domain == nullptr) {
    rcu::ReadGuard guard;
    body(d.current.Dereference(guard));
  } else {
    rcu::Domain::ReadGuard guard(*d.domain);
    body(d.current.Dereference(guard));
  }
}

// ---------------------------------------------------------------------------
// Fast readers: nested sections of random domains.

class FastReader {
 public:
  explicit FastReader(int id)
      : id_(id), rng_(id + 101), checker_("fast reader " + std::to_string(id)) {}

  void Run() {
    threads_started.fetch_add(1);
    SetThreadName(("fast" + std::to_string(id_)).c_str());
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t r = rng_.Next();
      const int extra = (r & 3) == 0 ? 1 + static_cast<int>((r >> 2) % (kMaxNesting - 1)) : 0;
      Section(0, extra, -1);
      for (int i = static_cast<int>((r >> 8) & 31); i > 0; --i) CpuRelax();
    }
    checker_.Flush();
  }

 private:
  void Section(int level, int extra, int outer_domain) {
    TortureDomain& d = Tortured(rng_.Below(kNumDomains));
    ReadStats& stats = checker_.stats();
    ++stats.per_domain[d.id].sections;
    if (level > 0) {
      ++stats.nested_sections;
      if (d.id != outer_domain) ++stats.cross_domain_nestings;
    }
    stats.deepest_nesting = std::max(stats.deepest_nesting, level + 1);
    InGuard(d, [&](const TortureObject* obj) {
      const std::uint64_t seq = checker_.Observe(d, obj);
      const std::uint64_t r = rng_.Next();
      std::optional<Cookie> cookie;
      if ((r & 31) == 0) cookie = (r >> 5 & 255) == 0 ? d.StartPoll() : d.GetState();
      if (level < extra) Section(level + 1, extra, d.id);
      const int spins = (r >> 16 & 4095) == 0 ? 4096 : static_cast<int>(r >> 24 & 63);
      for (int i = 0; i < spins; ++i) CpuRelax();
      if ((r >> 32 & 1023) == 0) std::this_thread::yield();
      checker_.Recheck(d, obj, seq);
      if (cookie) checker_.CheckCookieOpen(d, *cookie, "section");
    });
  }

  const int id_;
  Rng rng_;
  Checker checker_;
};

// ---------------------------------------------------------------------------
// Sleeping readers: sections of the rcu::Domains that sleep or block.

class SleepingReader {
 public:
  explicit SleepingReader(int id)
      : id_(id), rng_(id + 201), checker_("sleeping reader " + std::to_string(id)) {}

  void Run() {
    threads_started.fetch_add(1);
    SetThreadName(("sleep" + std::to_string(id_)).c_str());
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t r = rng_.Next();
      TortureDomain& d = Tortured(1 + rng_.Below(kNumDomains - 1));
      ReadStats& stats = checker_.stats();
      ++stats.per_domain[d.id].sections;
      if ((r & 1) == 0) {
        // A guard.
        rcu::Domain::ReadGuard guard(*d.domain);
        const TortureObject* obj = d.current.Dereference(guard);
        Hold(d, obj, r >> 1);
      } else {
        // A token that this thread begins and ends.
        rcu::Domain::ReadToken token = d.domain->BeginRead();
        ++stats.tokens_begun;
        const TortureObject* obj = d.current.Dereference(token);
        Hold(d, obj, r >> 1);
        ++stats.tokens_ended_end;
        token.End();
      }
      std::this_thread::yield();
    }
    checker_.Flush();
  }

 private:
  // Inside a section of `d` holding `obj`: maybe nests a section of a higher
  // domain, then sleeps or blocks, then checks everything again.
  void Hold(TortureDomain& d, const TortureObject* obj, std::uint64_t r) {
    const std::uint64_t seq = checker_.Observe(d, obj);
    std::optional<Cookie> cookie;
    if ((r & 3) == 0) cookie = d.GetState();
    int highest = d.id;
    if ((r >> 2 & 3) == 0 && d.id + 1 < kNumDomains) {
      TortureDomain& inner = Tortured(d.id + 1 + rng_.Below(kNumDomains - 1 - d.id));
      highest = inner.id;
      ++checker_.stats().nested_sections;
      ++checker_.stats().cross_domain_nestings;
      ++checker_.stats().per_domain[inner.id].sections;
      rcu::Domain::ReadGuard guard(*inner.domain);
      const TortureObject* inner_obj = inner.current.Dereference(guard);
      const std::uint64_t inner_seq = checker_.Observe(inner, inner_obj);
      Block(highest, r >> 4);
      checker_.Recheck(inner, inner_obj, inner_seq);
    } else {
      Block(highest, r >> 4);
    }
    checker_.Recheck(d, obj, seq);
    if (cookie) checker_.CheckCookieOpen(d, *cookie, "sleeping section");
  }

  // Sleeps, or waits for the writer of a domain that no section held here
  // can hold up (the default domain, or one above `highest`): that writer's
  // grace periods must complete meanwhile.
  void Block(int highest, std::uint64_t r) {
    if ((r & 3) != 0) {
      ++checker_.stats().sleeps;
      std::this_thread::sleep_for(std::chrono::microseconds(50 + (r >> 2) % 2000));
      return;
    }
    ++checker_.stats().blocked_on_other_domain;
    const int above = kNumDomains - 1 - highest;
    const int target =
        above > 0 && (r >> 2 & 1) ? highest + 1 + static_cast<int>((r >> 3) % above) : 0;
    Tortured(target).WaitForUpdates(2);
  }

  const int id_;
  Rng rng_;
  Checker checker_;
};

// ---------------------------------------------------------------------------
// Tokens across threads.

struct TokenItem {
  rcu::Domain::ReadToken token;
  TortureDomain* domain = nullptr;
  const TortureObject* obj = nullptr;
  std::uint64_t seq = 0;
  std::optional<Cookie> cookie;
  std::uint64_t origin = 0;                          // ThreadSerial() of the beginner
  std::shared_ptr<std::atomic<bool>> origin_exited;  // set when that thread exits
  int hops = 0;
};

class TokenQueue {
 public:
  // Waits while full. False (and `item` left alone) once closed.
  bool Push(TokenItem& item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < kTokenQueueCapacity; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  // False (and `item` left alone) if full or closed.
  bool TryPush(TokenItem& item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || items_.size() >= kTokenQueueCapacity) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  // Waits while empty. False once closed and empty.
  bool Pop(TokenItem* item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return false;
    *item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }
  // Closes the queue and ends the sections of the tokens still in it (no
  // consumer will take them now); returns how many.
  std::size_t Close() {
    std::deque<TokenItem> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      left.swap(items_);
      not_full_.notify_all();
      not_empty_.notify_all();
    }
    return left.size();  // their tokens end here
  }
  std::size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<TokenItem> items_;  // guarded by mu_
  bool closed_ = false;          // guarded by mu_
};

TokenQueue token_queue;

// Begins a token on this thread, of a domain that takes tokens moved across
// threads, and fills in `item`.
void BeginToken(Rng& rng, Checker& checker, TokenItem* item,
                const std::shared_ptr<std::atomic<bool>>& exited) {
  TortureDomain& d =
      Tortured(kFirstCrossThreadDomain + rng.Below(kNumDomains - kFirstCrossThreadDomain));
  item->token = d.domain->BeginRead();
  item->domain = &d;
  item->obj = d.current.Dereference(item->token);
  ++checker.stats().tokens_begun;
  ++checker.stats().per_domain[d.id].sections;
  item->seq = checker.Observe(d, item->obj);
  if ((rng.Next() & 3) == 0) item->cookie = d.GetState();
  item->origin = ThreadSerial();
  item->origin_exited = exited;
  item->hops = 0;
}

// Ends a token this thread did not hand on, one of three ways.
void EndToken(Rng& rng, Checker& checker, TokenItem& item) {
  switch (rng.Below(3)) {
    case 0:
      item.token.End();
      ++checker.stats().tokens_ended_end;
      break;
    case 1:
      item.token = rcu::Domain::ReadToken();  // move-assignment ends it
      ++checker.stats().tokens_ended_assign;
      break;
    default: {
      rcu::Domain::ReadToken doomed = std::move(item.token);
      ++checker.stats().tokens_ended_destroy;
      break;  // ends as `doomed` goes out of scope
    }
  }
  if (item.token.active()) {
    violations.Report(kLost, "a token still active after it was ended");
  }
}

// One long-lived producer: begins tokens and hands each to the consumers.
void LongProducer() {
  threads_started.fetch_add(1);
  SetThreadName("tok-producer");
  Rng rng(301);
  Checker checker("token producer");
  auto exited = std::make_shared<std::atomic<bool>>(false);
  while (!stop.load(std::memory_order_relaxed)) {
    TokenItem item;
    BeginToken(rng, checker, &item, exited);
    if (!token_queue.Push(item)) {
      EndToken(rng, checker, item);  // closed: the run is over
      break;
    }
  }
}

// A short-lived producer: begins a few tokens, hands them over, and exits
// while their sections are still open elsewhere.
void ShortProducer(std::uint64_t seed) {
  threads_started.fetch_add(1);
  Rng rng(seed);
  auto exited = std::make_shared<std::atomic<bool>>(false);
  {
    Checker checker("short producer");
    const int n = 1 + static_cast<int>(rng.Below(4));
    for (int i = 0; i < n; ++i) {
      TokenItem item;
      BeginToken(rng, checker, &item, exited);
      if (!token_queue.TryPush(item)) {
        checker.Recheck(*item.domain, item.obj, item.seq);
        EndToken(rng, checker, item);
      }
    }
  }
  exited->store(true, std::memory_order_release);
}

// A short-lived consumer: takes up to `quota` tokens, checks each one's
// object (maybe after a sleep), and ends it or hands it on.
void Consumer(std::uint64_t seed, int quota) {
  threads_started.fetch_add(1);
  Rng rng(seed);
  Checker checker("token consumer");
  for (int i = 0; i < quota; ++i) {
    TokenItem item;
    if (!token_queue.Pop(&item)) break;
    if (!item.token.active()) {
      violations.Report(kLost, "a token arrived without its section");
      continue;
    }
    TortureDomain& d = *item.domain;
    const bool moved = item.origin != ThreadSerial();
    if (moved) ++checker.stats().tokens_moved;
    if (item.origin_exited->load(std::memory_order_acquire)) ++checker.stats().tokens_orphaned;
    const std::uint64_t r = rng.Next();
    if ((r & 3) == 0) {
      ++checker.stats().sleeps;
      std::this_thread::sleep_for(std::chrono::microseconds(r >> 2 & 511));
    }
    // The object read by another thread is still protected by the token.
    checker.Recheck(d, item.obj, item.seq);
    // And the token still protects what this thread reads through it now.
    const TortureObject* now = d.current.Dereference(item.token);
    checker.Recheck(d, now, checker.Observe(d, now));
    if (item.cookie) checker.CheckCookieOpen(d, *item.cookie, "token's section");
    if (item.hops < 3 && (r >> 12 & 3) == 0) {
      ++item.hops;
      item.origin = ThreadSerial();
      if (token_queue.TryPush(item)) {
        ++checker.stats().token_hops;
        continue;
      }
    }
    EndToken(rng, checker, item);
  }
}

// Keeps kConsumers consumers and short producers coming and going.
void TokenTeam() {
  threads_started.fetch_add(1);
  SetThreadName("tok-team");
  Rng rng(401);
  while (!stop.load(std::memory_order_relaxed)) {
    std::vector<std::thread> consumers;
    for (int i = 0; i < kConsumers; ++i) {
      consumers.emplace_back(Consumer, rng.Next(), 20 + static_cast<int>(rng.Below(200)));
    }
    for (int round = 0; round < 8 && !stop.load(std::memory_order_relaxed); ++round) {
      std::thread(ShortProducer, rng.Next()).join();
    }
    for (std::thread& t : consumers) t.join();
  }
}

// ---------------------------------------------------------------------------
// Fake writers: grace periods of every domain with nothing to reclaim.

class FakeWriter {
 public:
  explicit FakeWriter(int id) : id_(id) {}

  void Run() {
    threads_started.fetch_add(1);
    SetThreadName(("fake" + std::to_string(id_)).c_str());
    for (std::uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
      TortureDomain& d = Tortured(static_cast<int>((round + id_) % kNumDomains));
      switch (round / kNumDomains % 5) {
        case 0: {
          const Cookie before = d.GetState();
          d.Synchronize();
          if (!d.PollState(before)) {
            violations.Report(kCookieLate, d.name + ": fake writer: cookie after Synchronize()");
          }
          break;
        }
        case 1: {
          const Cookie before = d.GetState();
          d.SynchronizeExpedited();
          if (!d.PollState(before)) {
            violations.Report(kCookieLate,
                              d.name + ": fake writer: cookie after SynchronizeExpedited()");
          }
          break;
        }
        case 2: {
          const Cookie cookie = d.StartPoll();
          for (int attempt = 0; !d.PollState(cookie); ++attempt) PollBackoff(attempt);
          d.grace_period_waits.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        case 3: {
          const Cookie cookie = d.GetState();
          d.CondSynchronize(cookie);
          if (!d.PollState(cookie)) {
            violations.Report(kCookieLate,
                              d.name + ": fake writer: cookie after CondSynchronize()");
          }
          break;
        }
        case 4:
          if (round % 16 < kNumDomains) {
            d.Barrier();
            d.barriers.fetch_add(1, std::memory_order_relaxed);
          } else {
            d.Synchronize();
          }
          break;
      }
      d.fake_grace_periods.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  const int id_;
};

// ---------------------------------------------------------------------------
// Callback floods, and the backlog bound of "torture-c".

void Flooder() {
  threads_started.fetch_add(1);
  SetThreadName("flooder");
  std::vector<std::uint64_t> seen(kNumDomains, 0);
  for (std::uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
    TortureDomain& d = Tortured(static_cast<int>(round % kNumDomains));
    // A burst after every 512 publications of the domain.
    const std::uint64_t updates = d.updates.load(std::memory_order_relaxed);
    if (updates < seen[d.id] + 512) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // pacing only
      continue;
    }
    seen[d.id] = updates;
    const std::size_t burst = d.id == kSmallBacklogDomain ? 3 * kSmallBacklogLimit : 5000;
    for (std::size_t i = 0; i < burst && !stop.load(std::memory_order_relaxed); ++i) {
      d.flood_queued.fetch_add(1, std::memory_order_relaxed);
      TortureDomain* dp = &d;
      d.CallRcu([dp] { dp->flood_run.fetch_add(1, std::memory_order_relaxed); });
      const std::uint64_t pending = d.flood_queued.load(std::memory_order_relaxed) -
                                    d.flood_run.load(std::memory_order_relaxed);
      UpdateMax(d.flood_max_pending, pending);
    }
  }
}

// ---------------------------------------------------------------------------
// Short-lived domains.

std::atomic<std::uint64_t> churn_domains{0};
std::atomic<std::uint64_t> churn_callbacks_queued{0};
std::atomic<std::uint64_t> churn_callbacks_run{0};

struct ChurnObject : rcu::RcuObjBase<ChurnObject> {
  explicit ChurnObject(std::uint64_t v) : magic(kLiveMagic), value(v) {}
  ~ChurnObject() {
    magic = kDeadMagic;
    KeepStores(this);
  }
  std::uint64_t magic;
  std::uint64_t value;
};

void ChurnOnce(std::uint64_t serial, Rng& rng) {
  rcu::Domain::Options options;
  options.name = "churn-" + std::to_string(serial);
  options.callback_backlog_limit = 64;
  rcu::Domain domain(options);
  rcu::RcuPtr<ChurnObject> ptr(new ChurnObject(0));
  rcu::Mutex mu;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    threads_started.fetch_add(1);
    while (!done.load(std::memory_order_relaxed)) {
      rcu::Domain::ReadGuard guard(domain);
      const ChurnObject* obj = ptr.Dereference(guard);
      const std::uint64_t v = obj->value;
      std::this_thread::yield();
      if (obj->magic != kLiveMagic || obj->value != v) {
        violations.Report(kPoisoned, options.name + ": churn reader saw a freed object");
      }
    }
  });
  const int updates = 50 + static_cast<int>(rng.Below(100));
  for (int i = 1; i <= updates; ++i) {
    ChurnObject* old;
    {
      rcu::MutexLock lock(mu);
      old = ptr.Exchange(new ChurnObject(static_cast<std::uint64_t>(i)), mu);
    }
    switch (i % 3) {
      case 0:
        domain.Retire(old);
        break;
      case 1:
        domain.Retire(old, [](ChurnObject* o) { delete o; });
        break;
      default:
        domain.Synchronize();
        delete old;
        break;
    }
    // A callback that queues another from the worker.
    churn_callbacks_queued.fetch_add(2, std::memory_order_relaxed);
    domain.CallRcu([&domain] {
      churn_callbacks_run.fetch_add(1, std::memory_order_relaxed);
      domain.CallRcu([] { churn_callbacks_run.fetch_add(1, std::memory_order_relaxed); });
    });
  }
  if (rng.Below(2) == 0) (void)domain.StartPoll();
  done.store(true);
  reader.join();
  ChurnObject* last;
  {
    rcu::MutexLock lock(mu);
    last = ptr.Exchange(nullptr, mu);
  }
  domain.Retire(last);
  // The destructor runs what is still pending, and what that queues.
}

void Churner() {
  threads_started.fetch_add(1);
  SetThreadName("churn");
  Rng rng(501);
  while (!stop.load(std::memory_order_relaxed)) {
    ChurnOnce(churn_domains.fetch_add(1) + 1, rng);
  }
}

// ---------------------------------------------------------------------------
// Options.

struct Options {
  double seconds = stress::StressSeconds();
  bool one_cpu = false;
  bool no_membarrier = false;
  double hang_seconds = kDefaultHangSeconds;
};

// Re-executes this program with the membarrier() system call refused
// (ENOSYS) by a seccomp filter, which the new image inherits, so that
// liburcu and rcu::Domain both take their fallback paths from the start.
void ReexecWithoutMembarrier(char** argv) {
  if (!rcu_test::RefuseMembarrier()) {
    std::perror("seccomp");
    std::exit(2);
  }
  setenv("DOMAIN_TORTURE_NO_MEMBARRIER", "1", 1);
  execv("/proc/self/exe", argv);
  std::perror("execv");
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strncmp(arg, "--seconds=", 10) == 0) {
      options.seconds = std::strtod(arg + 10, nullptr);
      if (!(options.seconds > 0)) options.seconds = stress::StressSeconds();
    } else if (std::strncmp(arg, "--hang_seconds=", 15) == 0) {
      options.hang_seconds = std::strtod(arg + 15, nullptr);
      if (!(options.hang_seconds > 0)) options.hang_seconds = kDefaultHangSeconds;
    } else if (std::strcmp(arg, "--one_cpu") == 0) {
      options.one_cpu = true;
    } else if (std::strcmp(arg, "--no_membarrier") == 0) {
      options.no_membarrier = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg);
      std::exit(2);
    }
  }
  if (options.no_membarrier && std::getenv("DOMAIN_TORTURE_NO_MEMBARRIER") == nullptr) {
    ReexecWithoutMembarrier(argv);
  }
  return options;
}

// ---------------------------------------------------------------------------

void PrintDomain(TortureDomain& d, const DomainReadStats& s, const Writer& writer) {
  std::printf("%s:\n", d.name.c_str());
  writer.Print();
  std::printf("  sections %" PRIu64 ", objects age-checked %" PRIu64 " + rechecked %" PRIu64
              " later in their sections, cookies checked inside %" PRIu64 "\n",
              s.sections, s.observations, s.rechecks, s.cookie_checks);
  std::printf("  pipe-count histogram:");
  for (int i = 0; i <= kPipeLength; ++i) {
    std::printf(" %d%s:%" PRIu64, i, i == kPipeLength ? "+" : "", s.pipe_histogram[i]);
  }
  std::printf("; max pipe count seen %d (0 or 1 allowed)\n", s.oldest);
  std::printf("  grace periods waited for: writer %" PRIu64 " (+%" PRIu64
              " callback-chain steps), fake writers %" PRIu64 " (%" PRIu64
              " barriers); objects recycled %" PRIu64 "\n",
              d.grace_period_waits.load(), d.callback_steps.load(), d.fake_grace_periods.load(),
              d.barriers.load(), d.objects_recycled.load());
  std::printf(
      "  flood callbacks %" PRIu64 " (max pending %" PRIu64 "%s); stalls reported %" PRIu64 "\n",
      d.flood_queued.load(), d.flood_max_pending.load(),
      d.id == kSmallBacklogDomain ? (", limit " + std::to_string(kSmallBacklogLimit)).c_str() : "",
      d.stalls_reported.load());
}

// Every thread's stack, to stderr, by gdb if there is one.
void DumpStacks() {
  const std::string command = "command -v gdb >/dev/null && timeout 60 gdb -p " +
                              std::to_string(getpid()) +
                              " -batch -nx -ex 'thread apply all bt' 1>&2 2>/dev/null";
  std::fflush(stderr);
  if (std::system(command.c_str()) != 0) std::fprintf(stderr, "(no stacks: gdb failed)\n");
}

std::mutex finished_mu;
std::condition_variable finished_cv;
bool finished = false;  // guarded by finished_mu
std::atomic<const char*> phase{"running"};

int Main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  if (options.one_cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof(set), &set);
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &set)) ++first;
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
  }
  rcu::SetDiagnosticHandler(
      [](const rcu::Diagnostic& d) { violations.Report(kDiagnosticReported, d.message); });

  const char* const kNames[kNumDomains] = {"default", "torture-a", "torture-b", "torture-c"};
  tortured.push_back(std::make_unique<TortureDomain>(0, kNames[0], nullptr));
  for (int i = 1; i < kNumDomains; ++i) {
    rcu::Domain::Options domain_options;
    domain_options.name = kNames[i];
    if (i == kSmallBacklogDomain) domain_options.callback_backlog_limit = kSmallBacklogLimit;
    domains.push_back(std::make_unique<rcu::Domain>(domain_options));
    tortured.push_back(std::make_unique<TortureDomain>(i, kNames[i], domains.back().get()));
  }
  std::atomic<std::uint64_t> other_stalls{0};
  rcu::SetStallHandler([&other_stalls](const rcu::StallReport& r) {
    for (auto& d : tortured) {
      if (r.kind == rcu::StallReport::Kind::kDomainReaders && r.domain == d->name) {
        d->stalls_reported.fetch_add(1);
        std::fprintf(stderr, "stall: domain %s, %lld sections open\n", r.domain.c_str(),
                     static_cast<long long>(r.open_sections));
        return;
      }
    }
    other_stalls.fetch_add(1);
  });
  const bool readers_fence = rcu::internal::domain_readers_fence.load();
  if (options.no_membarrier && !readers_fence) {
    violations.Report(kDiagnosticReported, "--no_membarrier, yet the domains use membarrier()");
  }

  std::printf(
      "domain_torture_test: %g s; domains: default + %d rcu::Domain; per domain 1 writer; "
      "%d fast readers, %d sleeping readers, %d fake writers, token producer + team, "
      "flooder, churn; pipe length %d, pool %zu per domain; membarrier %s%s\n",
      options.seconds, kNumDomains - 1, kFastReaders, kSleepingReaders, kFakeWriters, kPipeLength,
      kPoolSize, readers_fence ? "refused (readers fence)" : "used",
      options.one_cpu ? "; one CPU" : "");
  std::fflush(stdout);

  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < kNumDomains; ++i) {
    writers.push_back(std::make_unique<Writer>(Tortured(i)));
    writers.back()->Start();
  }
  std::vector<std::unique_ptr<FastReader>> fast;
  std::vector<std::unique_ptr<SleepingReader>> sleeping;
  std::vector<std::unique_ptr<FakeWriter>> fakes;
  std::vector<std::thread> threads;
  for (auto& w : writers) threads.emplace_back([w = w.get()] { w->Run(); });
  for (int i = 0; i < kFastReaders; ++i) {
    fast.push_back(std::make_unique<FastReader>(i));
    threads.emplace_back([r = fast.back().get()] { r->Run(); });
  }
  for (int i = 0; i < kSleepingReaders; ++i) {
    sleeping.push_back(std::make_unique<SleepingReader>(i));
    threads.emplace_back([r = sleeping.back().get()] { r->Run(); });
  }
  for (int i = 0; i < kFakeWriters; ++i) {
    fakes.push_back(std::make_unique<FakeWriter>(i));
    threads.emplace_back([f = fakes.back().get()] { f->Run(); });
  }
  threads.emplace_back(LongProducer);
  threads.emplace_back(TokenTeam);
  threads.emplace_back(Flooder);
  threads.emplace_back(Churner);

  // Run for the time given, or until a second after the first violation:
  // the verdict is known, and a broken build's grace periods may never end.
  const auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(options.seconds));
  bool stopped_early = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!stopped_early && violations.Total() > 0) {
      stopped_early = true;
      deadline = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // pacing only
  }
  stop.store(true);
  if (stopped_early) std::printf("stopping early: violations found\n");
  std::fflush(stdout);

  // From here on, a thread that does not finish is a grace period or a
  // barrier that never ends: report it rather than hang.
  // After a violation, a hang is expected (the broken build's grace
  // periods may wait for counts that never match): a short bound.
  const double hang_seconds =
      stopped_early ? std::min(options.hang_seconds, 5.0) : options.hang_seconds;
  std::thread watchdog([hang_seconds, stopped_early] {
    std::unique_lock<std::mutex> lock(finished_mu);
    if (finished_cv.wait_for(lock, std::chrono::duration<double>(hang_seconds),
                             [] { return finished; })) {
      return;
    }
    violations.Report(kHang, std::string("still ") + phase.load() + " " +
                                 std::to_string(hang_seconds) + " s after the run ended");
    if (!stopped_early) DumpStacks();  // else expected, see above
    std::fflush(stderr);
    const int status = violations.Verdict();
    std::fflush(stdout);
    std::_Exit(status);
  });

  phase.store("joining the threads");
  const std::size_t tokens_dropped = token_queue.Close();
  for (auto& d : tortured) d->WakeWaiters();
  for (std::thread& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (token_queue.Size() != 0) {
    violations.Report(kLost, std::to_string(token_queue.Size()) + " tokens left in the queue");
  }
  phase.store("finishing the writers");
  for (auto& w : writers) w->Finish();

  for (auto& d : tortured) {
    if (d->FreeCount() != kPoolSize) {
      violations.Report(kLost, d->name + ": " + std::to_string(kPoolSize - d->FreeCount()) +
                                   " objects never returned to the pool");
    }
    if (d->flood_run.load() != d->flood_queued.load()) {
      violations.Report(kLost, d->name + ": " + std::to_string(d->flood_queued.load()) +
                                   " flood callbacks queued, " +
                                   std::to_string(d->flood_run.load()) + " run after Barrier()");
    }
    if (d->id == kSmallBacklogDomain && d->stalls_reported.load() == 0 &&
        d->flood_max_pending.load() > kSmallBacklogLimit) {
      violations.Report(kBacklogUnbounded, d->name + ": up to " +
                                               std::to_string(d->flood_max_pending.load()) +
                                               " flood callbacks pending; limit " +
                                               std::to_string(kSmallBacklogLimit));
    }
  }
  if (payloads_allocated.load() != payloads_freed.load()) {
    violations.Report(kLost, std::to_string(payloads_allocated.load()) + " payloads allocated, " +
                                 std::to_string(payloads_freed.load()) + " freed");
  }
  if (churn_callbacks_queued.load() != churn_callbacks_run.load()) {
    violations.Report(kLost, std::to_string(churn_callbacks_queued.load()) +
                                 " churn callbacks queued, " +
                                 std::to_string(churn_callbacks_run.load()) +
                                 " run by the time their domains were destroyed");
  }
  phase.store("destroying the domains");
  domains.clear();
  {
    std::lock_guard<std::mutex> lock(finished_mu);
    finished = true;
  }
  finished_cv.notify_all();
  watchdog.join();

  ReadStats reads;
  {
    std::lock_guard<std::mutex> lock(totals_mu);
    reads = totals;
  }
  const std::uint64_t tokens_ended = reads.tokens_ended_end + reads.tokens_ended_assign +
                                     reads.tokens_ended_destroy + tokens_dropped;
  if (tokens_ended != reads.tokens_begun) {
    violations.Report(kLost, std::to_string(reads.tokens_begun) + " tokens begun, " +
                                 std::to_string(tokens_ended) + " ended");
  }
  std::printf("ran %.2f s\n", elapsed);
  int max_pipe = 0;
  for (int i = 0; i < kNumDomains; ++i) {
    PrintDomain(Tortured(i), reads.per_domain[i], *writers[i]);
    max_pipe = std::max(max_pipe, reads.per_domain[i].oldest);
  }
  std::uint64_t sections = 0, checks = 0;
  for (const auto& s : reads.per_domain) {
    sections += s.sections;
    checks += s.observations + s.rechecks;
  }
  std::printf("all domains: %" PRIu64 " sections, %" PRIu64 " age checks, max pipe count seen %d\n",
              sections, checks, max_pipe);
  std::printf("nesting: %" PRIu64 " nested sections (%" PRIu64 " of another domain), deepest %d\n",
              reads.nested_sections, reads.cross_domain_nestings, reads.deepest_nesting);
  std::printf("sleeping: %" PRIu64 " sleeps inside sections, %" PRIu64
              " sections blocked until another domain's writer published twice\n",
              reads.sleeps, reads.blocked_on_other_domain);
  std::printf("tokens: %" PRIu64 " begun, %" PRIu64 " moved across threads (%" PRIu64
              " handed on again, %" PRIu64
              " outlived the thread that began them); ended by "
              "End() %" PRIu64 ", assignment %" PRIu64 ", destruction %" PRIu64
              " (+%zu left in the queue at the end)\n",
              reads.tokens_begun, reads.tokens_moved, reads.token_hops, reads.tokens_orphaned,
              reads.tokens_ended_end, reads.tokens_ended_assign, reads.tokens_ended_destroy,
              tokens_dropped);
  std::printf("churn: %" PRIu64 " short-lived domains; %" PRIu64 " of their callbacks run\n",
              churn_domains.load(), churn_callbacks_run.load());
  std::printf("payloads allocated %" PRIu64 ", freed %" PRIu64 "; threads started %" PRIu64
              "; other stall reports %" PRIu64 "\n",
              payloads_allocated.load(), payloads_freed.load(), threads_started.load(),
              other_stalls.load());
  return violations.Verdict();
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
