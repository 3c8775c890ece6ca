// Concurrency: many threads picking and reporting on one engine while the
// configuration and health change underneath. Exact totals where the
// schedule makes them exact; run under TSan by scripts/test.sh.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"

namespace svc {
namespace {

std::shared_ptr<Engine> NewEngine() {
  std::shared_ptr<Engine> e;
  EXPECT_TRUE(Engine::Create(EngineOptions{}, &e).ok());
  return e;
}

TEST(Concurrency, RoundRobinTotalsAreExactAcrossThreads) {
  auto engine = NewEngine();
  ASSERT_TRUE(engine->UpsertUpstream(R"({"name": "rr"})").ok());
  ASSERT_TRUE(engine->AddTarget("rr", "10.0.0.1:80", 100).ok());
  ASSERT_TRUE(engine->AddTarget("rr", "10.0.0.2:80", 50).ok());
  ASSERT_TRUE(engine->AddTarget("rr", "10.0.0.3:80", 50).ok());
  constexpr int kThreads = 4, kPerThread = 2000;  // 8000 picks = 2000 cycles of 4
  std::mutex mu;
  std::map<std::string, int> counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::map<std::string, int> local;
      for (int i = 0; i < kPerThread; ++i) {
        Request r(engine);
        ASSERT_TRUE(r.SetUpstream("rr").ok());
        ASSERT_TRUE(r.Pick().ok());
        ++local[*r.peer_ip()];
        ASSERT_TRUE(r.Report(0, 0, 100).ok());
      }
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [k, v] : local) counts[k] += v;
    });
  }
  for (auto& t : threads) t.join();
  // The shared cursor hands out every schedule slot exactly once.
  EXPECT_EQ(counts["10.0.0.1"], 4000);
  EXPECT_EQ(counts["10.0.0.2"], 2000);
  EXPECT_EQ(counts["10.0.0.3"], 2000);
}

TEST(Concurrency, PicksStayValidWhileTargetsAndHealthChange) {
  auto engine = NewEngine();
  ASSERT_TRUE(engine->UpsertUpstream(
      R"({"name": "churn", "algorithm": "least-connections",
          "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}, "healthy": {"successes": 1}}}})").ok());
  for (int i = 1; i <= 4; ++i)
    ASSERT_TRUE(engine->AddTarget("churn", "10.0.1." + std::to_string(i) + ":80", 100).ok());
  std::atomic<int> events{0};
  engine->OnHealth([&](const std::string&, const std::string&, const std::string&, bool) { ++events; });
  std::atomic<bool> stop{false};
  std::atomic<int> picked{0}, no_peer{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        Request r(engine);
        if (!r.SetUpstream("churn").ok()) continue;
        Status st = r.Pick();
        if (!st.ok()) {
          EXPECT_EQ(st.code(), Code::no_peer) << st.message();
          ++no_peer;
          continue;
        }
        const std::string& ip = *r.peer_ip();
        EXPECT_EQ(ip.rfind("10.0.1.", 0), 0u) << ip;
        ++picked;
        // Every third try of thread 0 fails: health flips back and forth.
        const bool fail = t == 0 && i % 3 == 0;
        EXPECT_TRUE(r.Report(fail ? 2 : 0, 0, 100).ok());
      }
    });
  }
  std::thread writer([&] {
    for (int round = 0; !stop.load() && round < 200; ++round) {
      const std::string target = "10.0.1." + std::to_string(5 + round % 3) + ":80";
      EXPECT_TRUE(engine->AddTarget("churn", target, 100).ok());
      EXPECT_TRUE(engine->SetTargetHealth("churn", "10.0.1.1:80", nullptr, round % 2 == 0).ok());
      std::string health;
      EXPECT_TRUE(engine->Health("churn", &health).ok());
      EXPECT_TRUE(engine->DeleteTarget("churn", target).ok());
    }
  });
  for (auto& t : threads) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(picked + no_peer, 9000);
  EXPECT_GT(picked.load(), 0);
  // Every request reported or released its try: no connection count leaks.
  std::shared_ptr<Upstream> up;
  ASSERT_TRUE(engine->Find("churn", &up).ok());
  auto snap = up->snapshot();
  for (uint32_t i = 0; i < snap->addresses().size(); ++i) EXPECT_EQ(snap->connections(i), 0) << i;
  engine->Shutdown();
  EXPECT_GE(events.load(), 1);
}

TEST(Concurrency, ReloadsWhilePicking) {
  auto engine = NewEngine();
  const char* docs[] = {
      "_format_version: '3.0'\nupstreams:\n  - name: app\n    targets: [{target: 10.0.2.1:80}, {target: 10.0.2.2:80}]\n",
      "_format_version: '3.0'\nupstreams:\n  - name: app\n    algorithm: consistent-hashing\n"
      "    targets: [{target: 10.0.2.2:80}, {target: 10.0.2.3:80}]\n",
  };
  ASSERT_TRUE(engine->LoadConfig(docs[0]).ok());
  std::atomic<bool> stop{false};
  std::thread loader([&] {
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(engine->LoadConfig(docs[i % 2]).ok());
    stop = true;
  });
  std::vector<std::thread> pickers;
  std::atomic<int> picks{0};
  for (int t = 0; t < 2; ++t) {
    pickers.emplace_back([&] {
      while (!stop.load()) {
        Request r(engine);
        ASSERT_TRUE(r.SetUpstream("app").ok());
        ASSERT_TRUE(r.SetHashKey("user", 4).ok());
        Status st = r.Pick();
        ASSERT_TRUE(st.ok()) << st.message();
        const std::string ip = *r.peer_ip();
        EXPECT_TRUE(ip == "10.0.2.1" || ip == "10.0.2.2" || ip == "10.0.2.3") << ip;
        ++picks;
      }
    });
  }
  loader.join();
  for (auto& t : pickers) t.join();
  EXPECT_GT(picks.load(), 0);
}

}  // namespace
}  // namespace svc
