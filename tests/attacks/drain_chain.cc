// Minimal: a callback pending at exit() queues one more callback, by one
// path (argv[1]: retire | stateless | stateful | callrcu | obj | head).
// call_rcu.h, "At exit": the exit-time handler "runs every pending callback,
// and the callbacks those queue in turn, so callbacks queued before exit()
// run before the static objects constructed before that first call are
// destroyed". A Verifier constructed before the first call checks that the
// second callback ran.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rcu/rcu.h"

namespace {

std::atomic<int> first_ran{0}, second_ran{0};
std::string path;

struct Second {
  ~Second() { second_ran.fetch_add(1); }
};
struct SecondObj : rcu::RcuObjBase<SecondObj> {
  ~SecondObj() { second_ran.fetch_add(1); }
};
struct Deleter {
  void operator()(Second* s) const { delete s; }
};
struct Head {
  rcu::RcuHead head;
};

void QueueSecond() {
  if (path == "retire") {
    rcu::Retire(new Second);
  } else if (path == "stateless") {
    rcu::Retire(new Second, Deleter{});
  } else if (path == "stateful") {
    int salt = 1;
    rcu::Retire(new Second, [salt](Second* s) {
      if (salt) delete s;
    });
  } else if (path == "callrcu") {
    rcu::CallRcu([] { second_ran.fetch_add(1); });
  } else if (path == "obj") {
    rcu::Retire(new SecondObj);
  } else if (path == "head") {
    rcu::CallRcu(&(new Head)->head, [](rcu::RcuHead* h) {
      delete reinterpret_cast<Head*>(h);
      second_ran.fetch_add(1);
    });
  }
}

struct Verifier {
  ~Verifier() {
    char line[200];
    std::snprintf(line, sizeof line, "drain_chain %s: first ran %d, second ran %d -> %s\n",
                  path.c_str(), first_ran.load(), second_ran.load(),
                  first_ran.load() == 1 && second_ran.load() == 1 ? "PASS" : "FAIL");
    if (::write(1, line, std::strlen(line)) < 0) std::_Exit(3);
    if (second_ran.load() != 1) std::_Exit(1);
  }
};

}  // namespace

int main(int argc, char** argv) {
  path = argc > 1 ? argv[1] : "retire";
  static Verifier verifier;  // constructed before the first RCU call
  rcu::CallRcu([] {
    first_ran.fetch_add(1);
    QueueSecond();
  });
  std::exit(0);
}
