// Active health checks against the real test backend: tcp, http and https
// probes, the counters and thresholds of each direction, SNI, verification
// and client certificates of https probes, the probe request itself, and
// probes stopping with their upstream and engine.
#include <signal.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "address_health.h"
#include "backend_fixture.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "support/pki.h"

namespace svc {
namespace {

using nlohmann::json;
using testing::Backend;
using namespace std::chrono_literals;

// Health events and probe log lines, in the order the engine delivered them.
class Recorder {
 public:
  void Attach(Engine& e) {
    e.OnHealth([this](const std::string&, const std::string&, const std::string& address, bool healthy) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(std::string(healthy ? "HEALTHY " : "UNHEALTHY ") + address);
      cv_.notify_all();
    });
    e.OnLog([this](int, const std::string& message) {
      if (message.rfind("active probe of", 0) != 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(message);
      cv_.notify_all();
    });
  }
  // Waits until `line` was recorded; false after `limit`.
  bool WaitFor(const std::string& line, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return std::find(lines_.begin(), lines_.end(), line) != lines_.end(); });
  }
  // Waits until `n` lines contain `part`.
  bool WaitCount(const std::string& part, size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return CountLocked(part) >= n; });
  }
  size_t Count(const std::string& part) {
    std::lock_guard<std::mutex> lock(mu_);
    return CountLocked(part);
  }
  // The lines recorded before `line` first appeared that contain `part`.
  size_t CountBefore(const std::string& part, const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& l : lines_) {
      if (l == line) break;
      if (l.find(part) != std::string::npos) ++n;
    }
    return n;
  }
  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& l : lines_)
      if (l.rfind("HEALTHY ", 0) == 0 || l.rfind("UNHEALTHY ", 0) == 0) out.push_back(l);
    return out;
  }

 private:
  size_t CountLocked(const std::string& part) const {
    size_t n = 0;
    for (const auto& l : lines_)
      if (l.find(part) != std::string::npos) ++n;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

class ActiveHealth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::GenerateTempPki("svc-active", &pki_).ok());
  }

  void MakeEngine(EngineOptions options = {}) {
    ASSERT_TRUE(Engine::Create(options, &engine_).ok());
    recorder_.Attach(*engine_);
  }
  void SetUp() override { MakeEngine(); }
  void TearDown() override {
    if (engine_) engine_->Shutdown();
  }

  // An upstream with the given active tree and targets.
  void Upstream(const json& active, const std::vector<std::string>& targets, json extra = json::object()) {
    json u = {{"name", "u"}, {"healthchecks", {{"active", active}}}};
    u.update(extra);
    Status st = engine_->UpsertUpstream(u.dump());
    ASSERT_TRUE(st.ok()) << st.message();
    for (const auto& t : targets) ASSERT_TRUE(engine_->AddTarget("u", t, 100).ok());
  }

  // GET on a backend through send mode with an explicit target.
  json Get(const Backend& b, const std::string& path, bool tls = false) {
    Request r(engine_);
    EXPECT_TRUE(r.SetTarget("127.0.0.1", b.port()).ok());
    if (tls) {
      EXPECT_TRUE(r.SetScheme("https").ok());
      EXPECT_TRUE(r.SetTlsVerify(false).ok());
    }
    http::Response res;
    Status st = r.Send("GET", path, {}, "", &res);
    EXPECT_TRUE(st.ok()) << st.message();
    return st.ok() ? json::parse(res.body) : json();
  }
  json Admin(const Backend& b, bool tls = false) { return Get(b, "/_admin/info", tls)["admin"]; }

  std::string Health(const std::string& address) { return testing::AddressHealth(*engine_, "u", address); }

  static std::string Pem(const std::string& name) { return testing::ReadPkiFile(pki_, name); }

  static inline std::string pki_;
  std::shared_ptr<Engine> engine_;
  Recorder recorder_;
};

json Tcp(int failures, int successes) {
  return {{"type", "tcp"},
          {"timeout", 0.5},
          {"healthy", {{"interval", 0.05}, {"successes", successes}}},
          {"unhealthy", {{"interval", 0.05}, {"tcp_failures", failures}}}};
}

json HttpProbe(json healthy, json unhealthy) {
  healthy["interval"] = 0.05;
  unhealthy["interval"] = 0.05;
  return {{"type", "http"}, {"timeout", 0.5}, {"healthy", healthy}, {"unhealthy", unhealthy}};
}

TEST_F(ActiveHealth, TcpProbesEjectADeadBackendAfterTcpFailuresAndBringItBackAfterSuccesses) {
  const int port = testing::DeadPort();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto b = std::make_unique<Backend>(std::vector<std::string>{"--listen", address});
  ASSERT_EQ(b->port(), port);
  Upstream(Tcp(3, 2), {address});
  ASSERT_TRUE(recorder_.WaitCount("'127.0.0.1(" + address + ")': connected (SUCCESS)", 2));
  b->Stop();
  const std::string down = "UNHEALTHY " + address;
  ASSERT_TRUE(recorder_.WaitFor(down));
  // Exactly tcp_failures refused connects before the transition.
  EXPECT_EQ(recorder_.CountBefore("(TCP)", down), 3u);
  EXPECT_EQ(Health(address), "UNHEALTHY");
  Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("u").ok());
  EXPECT_EQ(r.Pick().code(), Code::no_peer);

  b = std::make_unique<Backend>(std::vector<std::string>{"--listen", address});
  ASSERT_EQ(b->port(), port);
  const std::string up = "HEALTHY " + address;
  ASSERT_TRUE(recorder_.WaitFor(up));
  const size_t successes = recorder_.CountBefore("connected (SUCCESS)", up);
  EXPECT_EQ(successes - recorder_.CountBefore("connected (SUCCESS)", down), 2u);
  EXPECT_EQ(Health(address), "HEALTHY");
  EXPECT_EQ(recorder_.Events(), (std::vector<std::string>{down, up}));
}

TEST_F(ActiveHealth, TcpProbesWorkOnAnHttpUpstream) {
  // Kong turns tcp probes off for HTTP services (#5877); svc runs them.
  Backend b({"--name", "b"});
  Upstream(Tcp(1, 1), {b.target()}, {{"host_header", "svc.test"}});
  ASSERT_TRUE(recorder_.WaitCount("connected (SUCCESS)", 3));
  EXPECT_EQ(Admin(b)["requests"], 1);  // connects only: our own admin request is the first
}

TEST_F(ActiveHealth, HttpProbesCountHttpFailuresIgnoreOtherStatusesAndRecover) {
  Backend b({"--name", "b"});
  const std::string address = b.target();
  Upstream(HttpProbe({{"successes", 3}}, {{"http_failures", 2}}), {address});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 1));

  // 418 is in neither active list: counted nowhere, state unchanged.
  Get(b, "/_admin/status/418");
  ASSERT_TRUE(recorder_.WaitCount("status 418 is in neither active list: ignored", 5));
  EXPECT_EQ(Health(address), "HEALTHY");
  EXPECT_TRUE(recorder_.Events().empty());

  Get(b, "/_admin/status/503");
  const std::string down = "UNHEALTHY " + address;
  ASSERT_TRUE(recorder_.WaitFor(down));
  EXPECT_EQ(recorder_.CountBefore("status 503 (HTTP)", down), 2u);

  Get(b, "/_admin/status/0");
  const std::string up = "HEALTHY " + address;
  ASSERT_TRUE(recorder_.WaitFor(up));
  EXPECT_EQ(recorder_.CountBefore("status 200 (SUCCESS)", up) - recorder_.CountBefore("status 200 (SUCCESS)", down), 3u);
  EXPECT_EQ(recorder_.Events(), (std::vector<std::string>{down, up}));
}

TEST_F(ActiveHealth, HttpProbeTimeoutsCountAsTimeouts) {
  Backend b({"--name", "b"});
  json active = HttpProbe({{"successes", 1}}, {{"timeouts", 2}, {"tcp_failures", 1}});
  active["timeout"] = 0.2;
  Upstream(active, {b.target()});
  Get(b, "/_admin/delay/1000");
  const std::string down = "UNHEALTHY " + b.target();
  ASSERT_TRUE(recorder_.WaitFor(down));
  EXPECT_EQ(recorder_.CountBefore("receive timed out (TIMEOUT)", down), 2u);
  EXPECT_EQ(recorder_.CountBefore("(TCP)", down), 0u);
}

TEST_F(ActiveHealth, AConnectionClosedBeforeTheAnswerIsATcpFailure) {
  Backend b({"--name", "b"});
  Upstream(HttpProbe({{"successes", 1}}, {{"tcp_failures", 2}}), {b.target()});
  Get(b, "/_admin/close/1");  // every new connection: FIN right after accept
  const std::string down = "UNHEALTHY " + b.target();
  ASSERT_TRUE(recorder_.WaitFor(down));
  EXPECT_EQ(recorder_.CountBefore("receive failed: the connection was closed (TCP)", down), 2u);
  b.Signal(SIGUSR1);  // serve again
  ASSERT_TRUE(recorder_.WaitFor("HEALTHY " + b.target()));
}

TEST_F(ActiveHealth, TheProbeRequestCarriesPathHeadersAndHost) {
  Backend b({"--name", "b"});
  json active = HttpProbe({{"successes", 1}}, {{"http_failures", 1}});
  active["http_path"] = "/status/200";
  active["headers"] = {{"X-Probe", {"a", "b"}}};
  Upstream(active, {b.target()}, {{"host_header", "svc.test:8080"}});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 1));
  json last = Admin(b)["last"];
  EXPECT_EQ(last["method"], "GET");
  EXPECT_EQ(last["target"], "/status/200");
  EXPECT_EQ(last["http_version"], "1.1");
  EXPECT_EQ(last["headers"]["host"], "svc.test:8080");
  EXPECT_EQ(last["headers"]["x-probe"], "a, b");
  EXPECT_EQ(last["headers"]["connection"], "close");
}

class ActiveHttps : public ActiveHealth {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.tls_trust = "none";
    options.tls_ca_file = pki_ + "/ca.pem";
    MakeEngine(options);
  }
  std::vector<std::string> Tls() { return {"--tls", pki_ + "/server-chain.pem," + pki_ + "/server.key"}; }
};

TEST_F(ActiveHttps, HttpsProbesSendTheConfiguredSniAndVerifyTheCertificateAgainstIt) {
  Backend b(Tls());
  json active = HttpProbe({{"successes", 1}}, {{"tcp_failures", 2}});
  active["type"] = "https";
  active["https_sni"] = "localhost";
  Upstream(active, {b.target()});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 2));
  json last = Admin(b, true)["last"];
  EXPECT_EQ(last["sni"], "localhost");
  EXPECT_EQ(last["headers"]["host"], "127.0.0.1");
  EXPECT_TRUE(recorder_.Events().empty());
}

TEST_F(ActiveHttps, AnSniTheCertificateDoesNotNameFailsVerification) {
  Backend b(Tls());
  json active = HttpProbe({{"successes", 1}}, {{"tcp_failures", 2}});
  active["type"] = "https";
  active["https_sni"] = "wrong.test";
  Upstream(active, {b.target()});
  const std::string down = "UNHEALTHY " + b.target();
  ASSERT_TRUE(recorder_.WaitFor(down));
  EXPECT_EQ(recorder_.CountBefore("certificate verify failed: certificate does not match 'wrong.test'", down), 2u);
}

TEST_F(ActiveHttps, VerificationOffAcceptsTheCertificateAndStillSendsTheSni) {
  Backend b(Tls());
  json active = HttpProbe({{"successes", 1}}, {{"tcp_failures", 1}});
  active["type"] = "https";
  active["https_sni"] = "wrong.test";
  active["https_verify_certificate"] = false;
  Upstream(active, {b.target()});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 1));
  EXPECT_EQ(Admin(b, true)["last"]["sni"], "wrong.test");
}

TEST_F(ActiveHttps, ProbesPresentTheUpstreamsClientCertificate) {
  Backend b({"--tls", pki_ + "/server-chain.pem," + pki_ + "/server.key", "--client-ca", pki_ + "/ca.pem"});
  json active = HttpProbe({{"successes", 1}}, {{"tcp_failures", 1}});
  active["type"] = "https";
  active["https_sni"] = "localhost";
  json doc = {{"_format_version", "3.0"},
              {"certificates", {{{"id", "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"},
                                 {"cert", Pem("client.pem")},
                                 {"key", Pem("client.key")}}}},
              {"upstreams", {{{"name", "u"},
                              {"client_certificate", {{"id", "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"}}},
                              {"healthchecks", {{"active", active}}},
                              {"targets", {{{"target", b.target()}}}}}}}};
  Status st = engine_->LoadConfig(doc.dump());
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 1));
  EXPECT_EQ(recorder_.Count("(TCP)"), 0u);
}

TEST_F(ActiveHttps, WithoutTheClientCertificateTheProbeFails) {
  Backend b({"--tls", pki_ + "/server-chain.pem," + pki_ + "/server.key", "--client-ca", pki_ + "/ca.pem"});
  json active = HttpProbe({{"successes", 1}}, {{"tcp_failures", 1}});
  active["type"] = "https";
  active["https_sni"] = "localhost";
  Upstream(active, {b.target()});
  ASSERT_TRUE(recorder_.WaitFor("UNHEALTHY " + b.target()));
}

TEST_F(ActiveHealth, AClientCertificateMustNameALoadedCertificate) {
  json doc = {{"_format_version", "3.0"},
              {"upstreams", {{{"name", "u"}, {"client_certificate", {{"id", "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b"}}}}}}};
  Status st = engine_->LoadConfig(doc.dump());
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_EQ(st.message(),
            "upstreams[0] (name 'u'): client_certificate: invalid reference 'client_certificate: "
            "4e3ad2e4-0bc4-4638-8e34-c84a417ba39b' (no such entry in 'certificates')");
  std::string text;
  EXPECT_EQ(engine_->GetUpstream("u", &text).code(), Code::not_found);  // nothing changed
}

TEST_F(ActiveHealth, GrpcProbesAreRejectedWhenTheyWouldRun) {
  Status st = engine_->UpsertUpstream(
      R"({"name": "u", "healthchecks": {"active": {"type": "grpc", "healthy": {"interval": 1}}}})");
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_EQ(st.message(), "healthchecks.active.type: 'grpc' probes are not supported; use http, https or tcp");
  // Accepted as Kong's schema does when no probe runs.
  EXPECT_TRUE(engine_->UpsertUpstream(R"({"name": "u", "healthchecks": {"active": {"type": "grpc"}}})").ok());
}

TEST_F(ActiveHealth, ProbesStopWithTheirUpstreamAndTheEngine) {
  Backend b({"--name", "b"});
  Upstream(HttpProbe({{"successes", 1}}, {{"http_failures", 1}}), {b.target()});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 2));
  ASSERT_TRUE(engine_->DeleteUpstream("u").ok());
  std::this_thread::sleep_for(100ms);  // a probe in flight may still land
  const int before = Admin(b)["requests"];
  std::this_thread::sleep_for(300ms);  // six probe intervals
  EXPECT_EQ(Admin(b)["requests"], before + 1);  // only our own admin request

  Upstream(HttpProbe({{"successes", 1}}, {{"http_failures", 1}}), {b.target()});
  ASSERT_TRUE(recorder_.WaitCount("status 200 (SUCCESS)", 4));
  engine_->Shutdown();
  engine_.reset();
  MakeEngine();  // a fresh engine, without probes, to read the backend's counters
  std::this_thread::sleep_for(100ms);
  const int stopped = Admin(b)["requests"];
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Admin(b)["requests"], stopped + 1);
}

TEST_F(ActiveHealth, AnUnchangedActiveTreeKeepsItsProberAcrossReloads) {
  Backend b({"--name", "b"});
  json active = HttpProbe({{"successes", 1}}, {{"http_failures", 1}});
  active["healthy"]["interval"] = 0.3;
  active["unhealthy"]["interval"] = 0.3;
  json doc = {{"_format_version", "3.0"},
              {"upstreams", {{{"name", "u"}, {"healthchecks", {{"active", active}}},
                              {"targets", {{{"target", b.target()}}}}}}}};
  // Reloading every 50 ms must not push the first round (one interval after start) away.
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(engine_->LoadConfig(doc.dump()).ok());
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(recorder_.Count("status 200 (SUCCESS)"), 1u);
}

}  // namespace
}  // namespace svc

namespace svc {
namespace {

// Probes, picks with passive reports, reloads and deletions all at once
// (run under ThreadSanitizer by the test script).
TEST(ConcurrencyActive, ProbesPicksReportsAndReloadsTogether) {
  testing::Backend b1({"--name", "b1"});
  testing::Backend b2({"--name", "b2"});
  std::shared_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Create({}, &engine).ok());
  std::atomic<int> events{0};
  engine->OnHealth([&](const std::string&, const std::string&, const std::string&, bool) { ++events; });
  auto doc = [&](double interval) {
    json active = {{"type", "http"},
                   {"timeout", 0.5},
                   {"healthy", {{"interval", interval}, {"successes", 1}}},
                   {"unhealthy", {{"interval", interval}, {"http_failures", 1}}}};
    return json{{"_format_version", "3.0"},
                {"upstreams", {{{"name", "u"},
                                {"healthchecks", {{"active", active}, {"passive", {{"unhealthy", {{"tcp_failures", 1}}}}}}},
                                {"targets", {{{"target", b1.target()}}, {{"target", b2.target()}}}}}}}}
        .dump();
  };
  ASSERT_GT(b1.port(), 0);
  ASSERT_GT(b2.port(), 0);
  Status loaded = engine->LoadConfig(doc(0.01));
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  std::atomic<bool> stop{false};
  std::atomic<int> picks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      while (!stop) {
        Request r(engine);
        if (!r.SetUpstream("u").ok()) continue;
        if (r.Pick().ok()) {
          ++picks;
          r.Report(t == 0 ? 0 : 2, 0, 0);  // one thread reports successes, one TCP failures
        }
      }
    });
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      engine->LoadConfig(doc(i % 2 ? 0.01 : 0.02));
      std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(1500ms);
  stop = true;
  for (auto& t : threads) t.join();
  engine->Shutdown();
  EXPECT_GT(picks.load(), 0);
  EXPECT_GT(events.load(), 0);  // passive failures ejected, probes brought back
}

}  // namespace
}  // namespace svc
