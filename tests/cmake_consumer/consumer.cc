// A program built against an installed rcu_containers through
// find_package(rcu_containers): every exported target in use, each checked.
// Prints "cmake_consumer: PASSED" and exits 0, or names what failed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "containers/config/json_config.h"
#include "containers/config/toml_config.h"
#include "containers/hash_map.h"
#include "containers/intrusive_rcu_list.h"
#include "containers/rcu_list.h"
#include "containers/snapshot.h"
#include "rcu/rcu.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "cmake_consumer: FAILED: %s\n", what);
    ++failures;
  }
}

struct Session {
  int id = 0;
  rcu::IntrusiveListHook hook;
};

std::string TempFile(const char* name) {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
}

}  // namespace

int main() {
  // The version the package reported to CMake is the one in the headers.
  Check(std::strcmp(RCU_CONTAINERS_VERSION_STRING, EXPECTED_VERSION) == 0,
        "rcu/version.h agrees with rcu_containersConfigVersion.cmake");

  // rcu_containers::rcu, with a reader on another thread.
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<int> value(std::make_unique<int>(1));
  std::thread reader([&] {
    for (int i = 0; i < 1000; ++i) {
      rcu::ReadGuard guard;
      const int seen = *value.Dereference(guard);
      if (seen < 1 || seen > 100) std::abort();
    }
  });
  for (int v = 2; v <= 100; ++v) {
    rcu::MutexLock lock(mu);
    value.Replace(std::make_unique<int>(v), mu);
  }
  reader.join();
  rcu::Barrier();
  Check(rcu::GetStats().callbacks_invoked >= 99, "replaced values reclaimed");

  // rcu_containers::hash_map
  rcu::HashMap<std::string, int> ports;
  ports.insert({"http", 80});
  ports.insert_or_assign("http", 8080);
  Check(ports.get("http") == 8080, "HashMap::get");

  // rcu_containers::rcu_list and ::intrusive_rcu_list
  rcu::RcuList<int> list;
  list.push_back(7);
  {
    rcu::ReadGuard guard;
    int sum = 0;
    for (int x : list.Iterate(guard)) sum += x;
    Check(sum == 7, "RcuList::Iterate");
  }
  rcu::Mutex sessions_mu;
  rcu::IntrusiveRcuList<Session, &Session::hook> sessions;
  Session session;
  session.id = 3;
  {
    rcu::MutexLock lock(sessions_mu);
    sessions.push_back(sessions_mu, session);
  }
  {
    rcu::ReadGuard guard;
    int found = 0;
    for (const Session& s : sessions.Iterate(guard)) found += s.id;
    Check(found == 3, "IntrusiveRcuList::Iterate");
  }
  {
    rcu::MutexLock lock(sessions_mu);
    Check(sessions.erase(sessions_mu, session) == &session, "IntrusiveRcuList::erase");
  }
  rcu::Synchronize();

  // rcu_containers::snapshot
  rcu::Snapshot<int> snapshot(1);
  snapshot.Update([](int& v) { v = 2; });
  Check(*snapshot.Load() == 2 && snapshot.Load().version() == 2, "Snapshot::Update");

  // rcu_containers::json_config and ::toml_config (config_watcher underneath)
  const std::string json_path = TempFile("rcu_cmake_consumer.json");
  std::ofstream(json_path) << R"({"port": 8080})";
  auto json = rcu::WatchJsonConfig<nlohmann::json>(json_path);
  Check(json.ok() && (*json)->Load()->at("port") == 8080, "WatchJsonConfig");
  const std::string toml_path = TempFile("rcu_cmake_consumer.toml");
  std::ofstream(toml_path) << "[server]\nport = 8081\n";
  auto toml = rcu::WatchTomlConfig(toml_path);
  Check(toml.ok() && (*(*toml)->Load())["server"]["port"].value_or(0) == 8081, "WatchTomlConfig");
  if (json.ok()) json->reset();  // stop the watchers before removing their files
  if (toml.ok()) toml->reset();
  std::remove(json_path.c_str());
  std::remove(toml_path.c_str());

  if (failures != 0) return 1;
  std::printf("cmake_consumer: PASSED (rcu_containers %s)\n", RCU_CONTAINERS_VERSION_STRING);
  return 0;
}
