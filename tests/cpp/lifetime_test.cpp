// Leaks and lifetime: engines created and freed 1 000 times with requests,
// connections, probes and callbacks in flight; requests, leases and TLS
// material freed before or after the engine; pending events delivered
// before shutdown returns and none after; no engine thread outlives it.
// Run under ASan with detect_leaks=1 for the leak half, and the threaded
// ones (ConcurrencyLifetime) under TSan.
#include <dirent.h>
#include <strings.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend_fixture.h"
#include "engine/engine.h"
#include "engine/lease.h"
#include "engine/request.h"
#include "support/pki.h"

namespace svc {
namespace {

using nlohmann::json;
using testing::Backend;
using namespace std::chrono_literals;

// Threads of this process, from /proc/self/task.
int Tasks() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int n = 0;
  while (dirent* d = readdir(dir))
    if (d->d_name[0] != '.') ++n;
  closedir(dir);
  return n;
}

// A joined thread may stay listed for a moment while the kernel reaps it:
// waits (bounded) until the count is `n`, and returns the last count seen.
int WaitTasks(int n) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  int now = Tasks();
  while (now != n && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    now = Tasks();
  }
  return now;
}

// The thread count to come back to. One thread is started and joined first:
// a sanitizer runtime (TSan) starts its own helper thread with the
// process's first one, and keeps it.
int Baseline() {
  std::thread([] {}).join();
  return Tasks();
}

// Waits (bounded) until `pred` holds, for states that announce nothing.
template <class Pred>
bool Poll(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

std::string Header(const http::Response& r, const char* name) {
  for (const auto& [n, v] : r.headers)
    if (strcasecmp(n.c_str(), name) == 0) return v;
  return "";
}

// An upstream "u" whose healthy addresses get a tcp probe every 10 ms: each
// result reaches the log subscriber, none can change the health (no
// unhealthy threshold, and unhealthy addresses are not probed).
std::string ProbedUpstream() {
  return json{{"name", "u"},
              {"healthchecks",
               {{"active",
                 {{"type", "tcp"},
                  {"timeout", 1},
                  {"healthy", {{"interval", 0.01}, {"successes", 1}}},
                  {"unhealthy", {{"interval", 0}, {"tcp_failures", 0}}}}},
                {"passive", {{"unhealthy", {{"tcp_failures", 1}}}}}}}}
      .dump();
}

TEST(ConcurrencyLifetime, EngineCreatedAndFreedThousandTimesWithWorkInFlight) {
  Backend b({"--name", "b"});
  ASSERT_GT(b.port(), 0);
  const int baseline = Baseline();
  ASSERT_GT(baseline, 0);
  constexpr int kRounds = 1000;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // No TLS here: "none" spares each engine the parsing of the system's
    // CA bundle (about 25 ms of CPU), which would make this test slow.
    EngineOptions options;
    options.tls_trust = "none";
    std::shared_ptr<Engine> engine;
    ASSERT_TRUE(Engine::Create(options, &engine).ok());
    auto health = std::make_shared<std::atomic<int>>(0);
    auto logs = std::make_shared<std::atomic<int>>(0);
    engine->OnHealth([health](const std::string&, const std::string&, const std::string&, bool) { ++*health; });
    engine->OnLog([logs](int, const std::string&) { ++*logs; });
    ASSERT_TRUE(engine->UpsertUpstream(ProbedUpstream()).ok());
    ASSERT_TRUE(engine->AddTarget("u", b.target(), 100).ok());

    // An idle pooled connection, and a leased one.
    {
      Request r(engine);
      ASSERT_TRUE(r.SetUpstream("u").ok());
      http::Response res;
      ASSERT_TRUE(r.Send("GET", "/", {}, "", &res).ok());
    }
    ASSERT_EQ(engine->pool().idle_total(), 1u);
    std::unique_ptr<Lease> lease;
    {
      Request r(engine);
      ASSERT_TRUE(r.SetTarget("127.0.0.1", b.port()).ok());
      ASSERT_TRUE(r.Connect(&lease).ok());
    }
    // Two events queued for the subscriber.
    ASSERT_TRUE(engine->SetTargetHealth("u", b.target(), nullptr, false).ok());
    ASSERT_TRUE(engine->SetTargetHealth("u", b.target(), nullptr, true).ok());

    // Two requests on their own threads, each past its pick when the engine
    // goes: one finishes its exchange, one waits for a slow answer and is
    // cancelled after the engine is gone.
    std::mutex mu;
    std::condition_variable cv;
    int picked = 0;
    auto signal_pick = [&] {
      std::lock_guard<std::mutex> lock(mu);
      ++picked;
      cv.notify_all();
      return Status::Ok();
    };
    Status quick_status, slow_status;
    http::Response quick_res;
    auto slow = std::make_unique<Request>(engine);
    ASSERT_TRUE(slow->SetUpstream("u").ok());
    slow->SetBalancerCallback(signal_pick);
    std::thread quick_thread([&, e = engine] {
      Request r(e);
      Status st = r.SetUpstream("u");
      r.SetBalancerCallback(signal_pick);
      quick_status = st.ok() ? r.Send("GET", "/", {}, "", &quick_res) : st;
    });
    std::thread slow_thread([&] {
      http::Response res;
      slow_status = slow->Send("GET", "/delay/3000", {}, "", &res);
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return picked == 2; }));
    }

    std::weak_ptr<Engine> weak = engine;
    engine->Shutdown();
    const int logs_at_shutdown = logs->load();
    EXPECT_EQ(health->load(), 2);  // the queued events came before Shutdown returned
    engine.reset();                // the handle goes; requests and the lease hold the object
    EXPECT_FALSE(weak.expired());

    slow->Cancel();
    slow_thread.join();
    quick_thread.join();
    EXPECT_TRUE(quick_status.ok()) << quick_status.message();
    EXPECT_EQ(quick_res.status, 200);
    EXPECT_EQ(slow_status.code(), Code::canceled);
    const std::string peer = b.target();
    EXPECT_TRUE(slow_status.message() == "send to " + peer + " cancelled" ||
                slow_status.message() == "connect to " + peer + " cancelled")
        << slow_status.message();

    // The leased connection still works after its engine is gone.
    const std::string ask = "GET / HTTP/1.1\r\nHost: b\r\n\r\n";
    ASSERT_TRUE(lease->Write(ask.data(), ask.size()).ok());
    char buf[15];
    size_t got = 0;
    ASSERT_TRUE(lease->Read(buf, sizeof buf, &got).ok());
    EXPECT_EQ(std::string(buf, got).substr(0, 12), "HTTP/1.1 200");
    slow.reset();
    EXPECT_FALSE(weak.expired());
    lease->Release(true);
    lease.reset();  // the last holder: the engine object goes with it
    EXPECT_TRUE(weak.expired());
    EXPECT_EQ(logs->load(), logs_at_shutdown);  // no callback after Shutdown returned
    ASSERT_EQ(WaitTasks(baseline), baseline);
  }
}

TEST(ConcurrencyLifetime, EngineThreadsAreJoinedByShutdown) {
  Backend b({"--name", "b"});
  ASSERT_GT(b.port(), 0);
  const int baseline = Baseline();
  EngineOptions options;
  options.io_threads = 4;
  std::shared_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(options, &engine).ok());
  // engine.h: one DNS thread, one event thread and io_threads I/O threads.
  EXPECT_EQ(Tasks(), baseline + 2 + options.io_threads);
  std::atomic<int> logs{0};
  engine->OnLog([&](int, const std::string&) { ++logs; });
  ASSERT_TRUE(engine->UpsertUpstream(ProbedUpstream()).ok());
  ASSERT_TRUE(engine->AddTarget("u", b.target(), 100).ok());
  ASSERT_TRUE(Poll([&] { return logs.load() >= 10; }));  // probes are running
  EXPECT_EQ(Tasks(), baseline + 2 + options.io_threads);
  engine->Shutdown();
  EXPECT_EQ(WaitTasks(baseline), baseline);
  engine->Shutdown();  // idempotent
  EXPECT_EQ(engine->AddTarget("u", "127.0.0.1:1", 100).code(), Code::closed);
  engine.reset();
  EXPECT_EQ(Tasks(), baseline);
}

TEST(ConcurrencyLifetime, PendingEventsAreDeliveredBeforeShutdownReturnsAndNoneAfter) {
  std::shared_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(EngineOptions{}, &engine).ok());
  const char* upstream = R"({"name": "u", "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}}})";
  ASSERT_TRUE(engine->UpsertUpstream(upstream).ok());
  ASSERT_TRUE(engine->AddTarget("u", "10.0.0.1:80", 100).ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  bool release = false;
  std::atomic<bool> shutdown_returned{false};
  engine->OnHealth([&](const std::string&, const std::string&, const std::string&, bool healthy) {
    std::unique_lock<std::mutex> lock(mu);
    seen.push_back(healthy ? "HEALTHY" : "UNHEALTHY");
    cv.notify_all();
    // The first delivery holds the event thread until the test lets it go.
    if (seen.size() == 1) cv.wait_for(lock, 10s, [&] { return release; });
    EXPECT_FALSE(shutdown_returned.load());
  });
  ASSERT_TRUE(engine->SetTargetHealth("u", "10.0.0.1:80", nullptr, false).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return seen.size() == 1; }));
  }
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(engine->SetTargetHealth("u", "10.0.0.1:80", nullptr, i % 2 == 0).ok());
  std::thread stopper([&] {
    engine->Shutdown();
    shutdown_returned = true;
  });
  ASSERT_TRUE(Poll([&] { return engine->closed(); }));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  std::vector<std::string> want = {"UNHEALTHY"};
  for (int i = 0; i < 10; ++i) want.push_back(i % 2 == 0 ? "HEALTHY" : "UNHEALTHY");
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, want);
  EXPECT_EQ(engine->SetTargetHealth("u", "10.0.0.1:80", nullptr, true).code(), Code::closed);
  EXPECT_EQ(seen.size(), want.size());
}

class Lifetime : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::GenerateTempPki("svc-lifetime", &pki_).ok());
  }
  static std::string Pem(const std::string& name) { return testing::ReadPkiFile(pki_, name); }
  static inline std::string pki_;
};

TEST_F(Lifetime, RequestsLeasesAndTlsMaterialFreedInAnyOrder) {
  Backend plain({"--name", "plain"});
  Backend mtls({"--tls", pki_ + "/server-chain.pem," + pki_ + "/server.key", "--client-ca", pki_ + "/ca.pem"});
  ASSERT_GT(plain.port(), 0);
  ASSERT_GT(mtls.port(), 0);
  std::shared_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create(EngineOptions{}, &engine).ok());
  // least-connections: the snapshot counts the tries still open.
  ASSERT_TRUE(engine->UpsertUpstream(R"({"name": "u", "algorithm": "least-connections"})").ok());
  ASSERT_TRUE(engine->AddTarget("u", plain.target(), 100).ok());

  // TLS material freed before the request uses it: the request holds it.
  auto tls_request = std::make_unique<Request>(engine);
  {
    std::shared_ptr<tls::TrustStore> store;
    ASSERT_TRUE(tls::TrustStore::New(&store).ok());
    ASSERT_TRUE(store->AddPem(Pem("ca.pem")).ok());
    std::shared_ptr<const tls::CertChain> chain;
    std::shared_ptr<const tls::PrivateKey> key;
    ASSERT_TRUE(tls::CertChain::ParsePem(Pem("client.pem"), &chain).ok());
    ASSERT_TRUE(tls::PrivateKey::ParsePem(Pem("client.key"), nullptr, &key).ok());
    ASSERT_TRUE(tls_request->SetTarget("127.0.0.1", mtls.port()).ok());
    ASSERT_TRUE(tls_request->SetScheme("https").ok());
    ASSERT_TRUE(tls_request->SetTlsVerifyStore(store).ok());
    ASSERT_TRUE(tls_request->SetTlsCertKey(chain, key).ok());
  }
  http::Response res;
  Status st = tls_request->Send("GET", "/", {}, "", &res);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(Header(res, "X-Client-Subject"), "/O=svc test/CN=svc test client");

  // TLS material freed after the request that used it.
  {
    std::shared_ptr<tls::TrustStore> store;
    ASSERT_TRUE(tls::TrustStore::New(&store).ok());
    ASSERT_TRUE(store->AddPem(Pem("ca.pem")).ok());
    {
      Request r(engine);
      ASSERT_TRUE(r.SetTarget("127.0.0.1", mtls.port()).ok());
      ASSERT_TRUE(r.SetTlsVerifyStore(store).ok());
    }
    EXPECT_EQ(store.use_count(), 1);
  }

  // A try picked and never reported, a fresh request, a leased connection.
  auto pending = std::make_unique<Request>(engine);
  ASSERT_TRUE(pending->SetUpstream("u").ok());
  ASSERT_TRUE(pending->Pick().ok());
  auto fresh = std::make_unique<Request>(engine);
  std::unique_ptr<Lease> lease;
  {
    Request r(engine);
    ASSERT_TRUE(r.SetUpstream("u").ok());
    ASSERT_TRUE(r.Connect(&lease).ok());
  }
  std::shared_ptr<Upstream> up;
  ASSERT_TRUE(engine->Find("u", &up).ok());
  auto snapshot = up->snapshot();
  EXPECT_EQ(snapshot->connections(0), 2);  // the pending pick and the lease

  std::weak_ptr<Engine> weak = engine;
  engine->Shutdown();
  engine.reset();
  ASSERT_FALSE(weak.expired());

  // Each object still answers, with the engine's closed error where it needs it.
  st = fresh->SetUpstream("u");
  EXPECT_EQ(st.code(), Code::closed);
  EXPECT_EQ(st.message(), "the engine is closed");
  ASSERT_TRUE(fresh->SetTarget("127.0.0.1", plain.port()).ok());
  st = fresh->Send("GET", "/", {}, "", &res);
  EXPECT_EQ(st.code(), Code::closed);
  EXPECT_EQ(st.message(), "the engine is closed");
  EXPECT_TRUE(pending->Report(0, 0, 100).ok());
  EXPECT_EQ(snapshot->connections(0), 1);
  const std::string ask = "GET / HTTP/1.1\r\nHost: plain\r\n\r\n";
  ASSERT_TRUE(lease->Write(ask.data(), ask.size()).ok());
  char buf[12];
  size_t got = 0;
  ASSERT_TRUE(lease->Read(buf, sizeof buf, &got).ok());
  EXPECT_EQ(std::string(buf, got), "HTTP/1.1 200");

  // Freed in an order no caller would pick: request, engine's last lease, requests.
  tls_request.reset();
  lease.reset();  // released unreported: closed, its slot freed
  EXPECT_EQ(snapshot->connections(0), 0);
  EXPECT_FALSE(weak.expired());
  fresh.reset();
  pending.reset();
  up.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(snapshot->connections(0), 0);
}

}  // namespace
}  // namespace svc
