// Internal: what becomes of callbacks when the process exits (rcu/call_rcu.h,
// "At exit").
//
// exit() runs the library's atexit handler, DrainCallbacksAtExit(), which was
// registered on the library's first use and so runs before the destructors of
// static objects constructed before that use. It:
//  1. marks the process as drained. From then on the worker no longer
//     collects partial retire blocks, and a thread that queues a callback
//     outside read-side sections and callbacks keeps it, in order, in its own
//     after-drain queue (rcu/internal/retire_buffer.h), which it runs itself
//     after one grace period once the queue holds kRetireBatchSize callbacks.
//     So callbacks queued by static destructors neither run at the same
//     time as other destructors nor cost a grace period each;
//     Callbacks queued inside read-side sections or by callbacks join the
//     queue too, and wait for its next run (which they could not do here);
//  2. then runs every thread's pending work and waits for the worker, round
//     after round while the callbacks run in a round queue further
//     callbacks (a chain; at most kMaxDrainRounds rounds, so that one that
//     re-queues itself forever does not hold up exit). New work of other
//     threads does not hold up exit either.
// What is queued after that runs at the next Barrier() or, at the latest, at
// the very end of exit, after static destructors (a destructor function of
// this library). A thread that exits after the drain leaves its queue for
// the next run (an earlier run may still hold the thread's earlier
// callbacks: the worker could overtake it).
//
// After-drain runs keep each thread's order: a run waits, after its grace
// period, for runs that took work before it and for the worker to finish
// what was queued for it, before it runs anything.
#ifndef RCU_INTERNAL_EXIT_DRAIN_H_
#define RCU_INTERNAL_EXIT_DRAIN_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

#include "rcu/internal/callback_list.h"

namespace rcu {
namespace internal {

struct ForkChildCallbacks;

// True once the exit-time drain has begun.
bool DrainedAtExit();

// Registers DrainCallbacksAtExit() with atexit(), once; cheap after the
// first call. Called on the library's first use (not at load: the drain must
// run before the destructors of static objects constructed before that use,
// and atexit handlers and those destructors run in reverse order of
// registration).
void EnsureExitDrainInstalled();

// The atexit handler.
void DrainCallbacksAtExit();

// One run of after-drain work in the calling thread, which must be outside
// read-side sections and callbacks. Begin() it while the work it takes is
// still locked where other threads would look for it (so that a Barrier()
// that finds that place empty knows to wait for this run), then Run() it.
class AfterDrainRun {
 public:
  AfterDrainRun() = default;
  ~AfterDrainRun();  // ends the run if it began and never ran
  AfterDrainRun(const AfterDrainRun&) = delete;
  AfterDrainRun& operator=(const AfterDrainRun&) = delete;

  void Begin();
  // Waits for a grace period and for earlier runs, and, if the calling
  // thread has queued callbacks for the worker since its last run (see
  // NoteQueuedForWorker()), for the worker; then runs `work` and ends the
  // run.
  void Run(CallbackList&& work);

 private:
  void End();
  // The oldest ticket among `active` and the runs linked after it; the
  // caller holds the runs' lock.
  static std::uint64_t OldestTicket(const AfterDrainRun* active);

  friend void ExitDrainRunsAfterForkChild(ForkChildCallbacks& inherited);

  bool begun_ = false;
  std::uint64_t ticket_ = 0;  // order of taking work, while begun_
  // What Run() has not run yet, guarded by the runs' lock (a fork() child
  // adopts it).
  CallbackList work_;
  // Links among the runs in progress, guarded by their lock.
  AfterDrainRun* prev_ = nullptr;
  AfterDrainRun* next_ = nullptr;
};

// Barrier() after the drain: waits for runs begun earlier in other threads
// and for the worker, then runs every thread's pending work here.
void BarrierAfterDrain();

// Called whenever a callback is queued: counts those that callbacks queue,
// for the drain's rounds.
void NoteQueuedByCallback();

// Called whenever the calling thread queues a callback for the worker: its
// next after-drain run waits for the worker first, so that the thread's
// callbacks still run in order. Every thread's first after-drain run waits
// too (for what it queued before the drain).
void NoteQueuedForWorker();

// The child handler of the kExitDrainRuns fork stage (registered in
// exit_drain.cc): the work of runs in progress, whose threads do not exist
// in the child, goes to the child's worker.
void ExitDrainRunsAfterForkChild(ForkChildCallbacks& inherited);

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_EXIT_DRAIN_H_
