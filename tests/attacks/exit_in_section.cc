// exit() called inside a read-side section, with a retired object still in
// use by ANOTHER reader.
//
// grace_period.h / call_rcu.h: a callback runs only after a grace period,
// i.e. after every read-side section running when it was queued has ended.
// Main retires an object that reader R still holds (R stays in its section,
// checking the object, until the process ends), then enters a section and
// calls exit(). Whatever the exit-time drain does, it must not free R's
// object. argv[1] = "in_section" (main holds a guard) or "outside".
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "rcu/rcu.h"

namespace {

void Say(const char* s) {
  if (::write(1, s, std::strlen(s)) < 0) std::_Exit(4);
}

struct Obj {
  std::atomic<int> alive{1};
  ~Obj() { alive.store(0); }
};
std::atomic<int> destroyed{0};
std::atomic<Obj*> published{nullptr};

// Runs after static destructors and the library's own end-of-exit work?
// Not necessarily; a destructor function is run in reverse order of
// registration relative to atexit handlers registered before it. It reports
// what it saw: any reclamation at all is a violation, as the reader holds
// the object until the process dies.
struct Reporter {
  ~Reporter() {
    char line[160];
    std::snprintf(line, sizeof line, "exit_in_section: at static destruction, the object was %s\n",
                  destroyed.load() ? "RECLAIMED (FAIL)" : "not reclaimed");
    Say(line);
  }
};
__attribute__((destructor)) void AtTheVeryEnd() {
  char line[160];
  std::snprintf(line, sizeof line, "exit_in_section: at the very end, the object was %s\n",
                destroyed.load() ? "RECLAIMED (FAIL)" : "not reclaimed");
  Say(line);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "in_section";
  rcu::SetDiagnosticHandler(
      [](const rcu::Diagnostic& d) { Say(("DIAGNOSTIC: " + d.message + "\n").c_str()); });
  static Reporter reporter;
  published.store(new Obj);
  std::atomic<bool> reading{false};
  std::thread([&reading] {
    rcu::ReadGuard guard;
    Obj* o = published.load();
    reading.store(true);
    for (;;) {
      if (o->alive.load() != 1) {
        Say("exit_in_section: FAIL: the exit-time drain freed an object a reader still holds\n");
        std::_Exit(1);
      }
    }
  }).detach();
  while (!reading.load()) std::this_thread::yield();
  Obj* old = published.exchange(nullptr);
  rcu::Retire(old, [](Obj* o) {
    destroyed.fetch_add(1);
    o->~Obj();  // keep the memory, so the reader's check reads the mark
  });
  // Let the reader spin a while under the sanitizer-free build.
  if (mode == "in_section") {
    rcu::ReadGuard guard;
    Say("exit_in_section: calling exit() inside a read-side section\n");
    std::exit(0);
  }
  Say("exit_in_section: calling exit() outside read-side sections\n");
  std::exit(0);
}
