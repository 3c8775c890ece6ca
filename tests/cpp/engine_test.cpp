// Engine behaviour: atomic declarative loads, health from reported outcomes,
// health events exactly once, Kong-shaped health reports.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/request.h"

namespace svc {
namespace {

using nlohmann::json;

struct Event {
  std::string upstream, target, address;
  bool healthy;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Engine::Create(EngineOptions{}, &engine_).ok());
    engine_->OnHealth([this](const std::string& u, const std::string& t, const std::string& a, bool h) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back({u, t, a, h});
      cv_.notify_all();
    });
  }
  // Shutdown delivers the events still queued: before the members the
  // callback writes to are destroyed.
  void TearDown() override { engine_->Shutdown(); }

  // Waits (bounded) until n events arrived, then returns them.
  std::vector<Event> WaitEvents(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return events_.size() >= n; });
    return events_;
  }

  // Picks once through `upstream` and reports `outcome`; returns "ip:port".
  std::string PickAndReport(const std::string& upstream, Engine::Outcome outcome, int status = 0) {
    Request r(engine_);
    EXPECT_TRUE(r.SetUpstream(upstream.c_str()).ok());
    Status st = r.Pick();
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return "";
    EXPECT_TRUE(r.Report(static_cast<int>(outcome), status, 1000).ok());
    return *r.peer_ip() + ":" + std::to_string(r.peer_port());
  }

  json Health(const std::string& upstream) {
    std::string text;
    Status st = engine_->Health(upstream, &text);
    EXPECT_TRUE(st.ok()) << st.message();
    return json::parse(text);
  }

  std::shared_ptr<Engine> engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

constexpr const char* kPassiveConfig = R"(
_format_version: "3.0"
upstreams:
  - name: api
    healthchecks:
      passive:
        unhealthy:
          tcp_failures: 2
          http_failures: 3
          http_statuses: [500, 503]
        healthy:
          successes: 2
    targets:
      - target: 10.0.0.1:80
      - target: 10.0.0.2:80
)";

TEST_F(EngineTest, LoadConfigIsAtomic) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  // The second upstream is bad: nothing of this document may land.
  Status st = engine_->LoadConfig(R"(
_format_version: "3.0"
upstreams:
  - name: other
    targets: [{target: 10.0.0.9:80}]
  - name: broken
    slots: 5
)");
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_NE(st.message().find("broken"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("slots"), std::string::npos) << st.message();
  std::shared_ptr<Upstream> up;
  EXPECT_EQ(engine_->Find("other", &up).code(), Code::not_found);
  EXPECT_TRUE(engine_->Find("api", &up).ok());
  EXPECT_EQ(Health("api")["data"].size(), 2u);
}

TEST_F(EngineTest, ReloadReplacesUpstreamsAndKeepsHealth) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  ASSERT_TRUE(engine_->SetTargetHealth("api", "10.0.0.1:80", nullptr, false).ok());
  ASSERT_TRUE(engine_->LoadConfig(R"(
_format_version: "3.0"
upstreams:
  - name: api
    healthchecks: {passive: {unhealthy: {tcp_failures: 2}}}
    targets: [{target: 10.0.0.1:80}, {target: 10.0.0.3:80}]
)").ok());
  json h = Health("api");
  ASSERT_EQ(h["data"].size(), 2u);
  EXPECT_EQ(h["data"][0]["target"], "10.0.0.1:80");
  EXPECT_EQ(h["data"][0]["health"], "UNHEALTHY");  // kept across the reload
  EXPECT_EQ(h["data"][1]["health"], "HEALTHY");
  // A request that named the upstream before the reload follows it.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(PickAndReport("api", Engine::Outcome::ok), "10.0.0.3:80");
}

TEST_F(EngineTest, PassiveTcpFailuresMarkUnhealthyAndFireOnce) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  // Round-robin alternates 10.0.0.1, 10.0.0.2; fail only 10.0.0.1.
  int failures = 0;
  while (failures < 2) {
    Request r(engine_);
    ASSERT_TRUE(r.SetUpstream("api").ok());
    ASSERT_TRUE(r.Pick().ok());
    const bool first = *r.peer_ip() == "10.0.0.1";
    ASSERT_TRUE(r.Report(static_cast<int>(first ? Engine::Outcome::tcp_failure : Engine::Outcome::ok), 0, 10).ok());
    failures += first;
  }
  auto events = WaitEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].upstream, "api");
  EXPECT_EQ(events[0].target, "10.0.0.1:80");
  EXPECT_EQ(events[0].address, "10.0.0.1:80");
  EXPECT_FALSE(events[0].healthy);
  json h = Health("api");
  EXPECT_EQ(h["data"][0]["health"], "UNHEALTHY");
  EXPECT_EQ(h["data"][0]["data"]["addresses"][0]["health"], "UNHEALTHY");
  EXPECT_EQ(h["weight"]["total"], 200);
  EXPECT_EQ(h["weight"]["available"], 100);
  EXPECT_EQ(h["weight"]["unavailable"], 100);
  EXPECT_EQ(h["health"], "HEALTHY");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(PickAndReport("api", Engine::Outcome::ok), "10.0.0.2:80");
  // A third failure report for an already unhealthy address changes nothing.
  EXPECT_EQ(WaitEvents(1).size(), 1u);
}

TEST_F(EngineTest, IgnoredStatusesDoNotCount) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  // 404 is in neither passive list: ignored, never unhealthy.
  for (int i = 0; i < 20; ++i) PickAndReport("api", Engine::Outcome::http, 404);
  json h = Health("api");
  EXPECT_EQ(h["data"][0]["health"], "HEALTHY");
  EXPECT_EQ(h["data"][1]["health"], "HEALTHY");
  // 503 counts as an HTTP failure: 3 per address turn both unhealthy.
  for (int i = 0; i < 6; ++i) PickAndReport("api", Engine::Outcome::http, 503);
  h = Health("api");
  EXPECT_EQ(h["data"][0]["health"], "UNHEALTHY");
  EXPECT_EQ(h["data"][1]["health"], "UNHEALTHY");
  EXPECT_EQ(h["health"], "UNHEALTHY");
  Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("api").ok());
  Status st = r.Pick();
  EXPECT_EQ(st.code(), Code::no_peer);
  EXPECT_EQ(st.message(), "failure to get a peer from the ring-balancer");
  EXPECT_EQ(WaitEvents(2).size(), 2u);
}

TEST_F(EngineTest, ManualHealthForcesAndFiresOnlyOnChange) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  ASSERT_TRUE(engine_->SetTargetHealth("api", "10.0.0.2:80", "10.0.0.2:80", false).ok());
  ASSERT_TRUE(engine_->SetTargetHealth("api", "10.0.0.2:80", nullptr, false).ok());  // no change
  ASSERT_TRUE(engine_->SetTargetHealth("api", "10.0.0.2:80", nullptr, true).ok());
  auto events = WaitEvents(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].healthy);
  EXPECT_TRUE(events[1].healthy);
  EXPECT_EQ(events[1].address, "10.0.0.2:80");
}

TEST_F(EngineTest, ManualHealthErrors) {
  ASSERT_TRUE(engine_->LoadConfig(kPassiveConfig).ok());
  Status st = engine_->SetTargetHealth("nope", "10.0.0.1:80", nullptr, true);
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_EQ(st.message(), "could not find an Upstream named 'nope'");
  st = engine_->SetTargetHealth("api", "10.0.0.7:80", nullptr, true);
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_EQ(st.message(), "could not find a Target '10.0.0.7:80' in Upstream 'api'");
  st = engine_->SetTargetHealth("api", "10.0.0.1:80", "10.0.0.9:80", true);
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_EQ(st.message(), "could not find the address '10.0.0.9:80' of Target '10.0.0.1:80' in Upstream 'api'");
  ASSERT_TRUE(engine_->UpsertUpstream(R"({"name": "plain"})").ok());
  ASSERT_TRUE(engine_->AddTarget("plain", "10.0.0.1", 100).ok());
  st = engine_->SetTargetHealth("plain", "10.0.0.1", nullptr, false);
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "no healthchecker found for plain");
  EXPECT_EQ(Health("plain")["data"][0]["health"], "HEALTHCHECKS_OFF");
  EXPECT_EQ(Health("plain")["data"][0]["target"], "10.0.0.1:8000");
}

TEST_F(EngineTest, TargetsAddDeleteAndDuplicates) {
  ASSERT_TRUE(engine_->UpsertUpstream(R"({"name": "svc1"})").ok());
  ASSERT_TRUE(engine_->AddTarget("svc1", "10.0.0.1:80", 100).ok());
  Status st = engine_->AddTarget("svc1", "10.0.0.01:80", 50);  // same after normalisation
  EXPECT_EQ(st.code(), Code::exists);
  EXPECT_EQ(st.message(), "target '10.0.0.1:80' already exists in upstream 'svc1'");
  st = engine_->AddTarget("nope", "10.0.0.1:80", 100);
  EXPECT_EQ(st.code(), Code::not_found);
  st = engine_->DeleteTarget("svc1", "10.0.0.2:80");
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_EQ(st.message(), "could not find a Target '10.0.0.2:80' in Upstream 'svc1'");
  ASSERT_TRUE(engine_->DeleteTarget("svc1", "10.0.0.1:80").ok());
  Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("svc1").ok());
  st = r.Pick();
  EXPECT_EQ(st.code(), Code::no_peer);  // no targets
  ASSERT_TRUE(engine_->DeleteUpstream("svc1").ok());
  st = engine_->DeleteUpstream("svc1");
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_EQ(st.message(), "could not find an Upstream named 'svc1'");
}

TEST_F(EngineTest, HostHeaderIsThePeerHost) {
  ASSERT_TRUE(engine_->UpsertUpstream(R"({"name": "hh", "host_header": "api.internal:8443"})").ok());
  ASSERT_TRUE(engine_->AddTarget("hh", "10.0.0.1:80", 100).ok());
  Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("hh").ok());
  ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(*r.peer_host(), "api.internal");
  EXPECT_EQ(*r.peer_ip(), "10.0.0.1");
}

TEST_F(EngineTest, HashOnHeaderWithFallbackFollowsKong) {
  ASSERT_TRUE(engine_->UpsertUpstream(
      R"({"name": "ch", "hash_on": "header", "hash_on_header": "X-User", "hash_fallback": "ip"})").ok());
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(engine_->AddTarget("ch", "10.0.0." + std::to_string(i) + ":80", 100).ok());
  auto pick = [&](const char* user, const char* ip) {
    Request r(engine_);
    EXPECT_TRUE(r.SetUpstream("ch").ok());
    if (user) EXPECT_TRUE(r.SetHashInput(static_cast<int>(HashOn::header), "x-user", user).ok());
    if (ip) EXPECT_TRUE(r.SetHashInput(static_cast<int>(HashOn::ip), nullptr, ip).ok());
    EXPECT_TRUE(r.Pick().ok());
    return std::make_pair(r.HashValue(), *r.peer_ip());
  };
  EXPECT_EQ(pick("alice", "192.0.2.1").first, "alice");
  EXPECT_EQ(pick(nullptr, "192.0.2.1").first, "192.0.2.1");  // header missing: fallback
  EXPECT_EQ(pick(nullptr, nullptr).first, "");               // neither: ""
  EXPECT_EQ(pick("alice", nullptr).second, pick("alice", "192.0.2.99").second);
  // svc_set_hash_key overrides hash_on.
  Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("ch").ok());
  ASSERT_TRUE(r.SetHashKey("alice", 5).ok());
  ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(*r.peer_ip(), pick("alice", nullptr).second);
}

TEST_F(EngineTest, ClosedEngineRejectsEverything) {
  engine_->Shutdown();
  EXPECT_EQ(engine_->LoadConfig(kPassiveConfig).code(), Code::closed);
  EXPECT_EQ(engine_->UpsertUpstream(R"({"name": "x"})").code(), Code::closed);
  std::string out;
  EXPECT_EQ(engine_->Health("api", &out).code(), Code::closed);
}

}  // namespace
}  // namespace svc

namespace svc {
namespace {

// Found by fuzzing the setter sequence: deeply nested options overflowed the
// stack while the error message printed the value.
TEST(EngineOptionsTest, DeepNestingIsAnErrorNotACrash) {
  EngineOptions o;
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  Status st = ParseEngineOptions(deep, &o);
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "options: nested deeper than 100 levels");
  const std::string inside = R"({"dns": {"servers": )" + std::string(150, '[') + std::string(150, ']') + "}}";
  st = ParseEngineOptions(inside, &o);
  EXPECT_EQ(st.message(), "options: nested deeper than 100 levels");
  EXPECT_TRUE(ParseEngineOptions(R"({"dns": {"servers": ["127.0.0.1"]}})", &o).ok());
}

}  // namespace
}  // namespace svc
