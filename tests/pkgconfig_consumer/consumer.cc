// A program built against an installed rcu_containers with nothing but
// g++ and pkg-config (run.sh has the command line). Prints
// "pkgconfig_consumer: PASSED" and exits 0, or names what failed.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "containers/config/json_config.h"
#include "containers/hash_map.h"
#include "containers/snapshot.h"
#include "rcu/rcu.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "pkgconfig_consumer: FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  // `pkg-config --modversion rcu_containers` is the version in the headers.
  Check(std::strcmp(RCU_CONTAINERS_VERSION_STRING, EXPECTED_VERSION) == 0,
        "rcu/version.h agrees with rcu_containers.pc");

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

  rcu::HashMap<std::string, int> ports;
  ports.insert({"http", 80});
  ports.insert_or_assign("http", 8080);
  Check(ports.get("http") == 8080, "HashMap::get");

  rcu::Snapshot<int> snapshot(1);
  snapshot.Update([](int& v) { v = 2; });
  Check(*snapshot.Load() == 2, "Snapshot::Update");

  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/rcu_pc_consumer.json";
  std::ofstream(path) << R"({"port": 8080})";
  auto json = rcu::WatchJsonConfig<nlohmann::json>(path);
  Check(json.ok() && (*json)->Load()->at("port") == 8080, "WatchJsonConfig");
  if (json.ok()) json->reset();
  std::remove(path.c_str());

  if (failures != 0) return 1;
  std::printf("pkgconfig_consumer: PASSED (rcu_containers %s)\n", RCU_CONTAINERS_VERSION_STRING);
  return 0;
}
