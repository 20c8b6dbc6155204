// A map destroyed by a static destructor after the core's exit-time drain
// (rcu/internal/exit_drain.h) must let the process exit. The map below is
// constructed before the core's first use, so its destructor runs after the
// drain, and it retires more entries than the callback backlog limit. Those
// callbacks stay with the exiting thread after the drain; the map used to
// wait for the backlog to drain anyway, and the process hung at exit (found
// when //bench:hash_map_batch_bench never exited).
//
// Passes if the process exits with status 0; a hang is turned into a
// failure by alarm() (SIGALRM ends the process).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "containers/hash_map.h"
#include "rcu/call_rcu.h"

int main() {
  // Constructed first: its destructor is registered before the drain's
  // handler, so it runs after it.
  static rcu::HashMap<int, std::string> map;
  static rcu::HashMap<int, int> recycled;  // the other retirement path
  rcu::SetCallbackBacklogLimit(100);
  for (int i = 0; i < 20000; ++i) {
    map.insert({i, "value"});
    recycled.insert({i, i});
  }
  for (int i = 0; i < 2000; ++i) recycled.insert_or_assign(i, -i);
  alarm(120);
  std::printf("hash_map_static_exit_test: exiting with %zu + %zu entries, backlog limit %zu\n",
              map.size(), recycled.size(), rcu::CallbackBacklogLimit());
  return 0;
}
