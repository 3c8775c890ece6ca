// Kong's generic balancer unit tests (health threshold and per-address
// weights), ported for every algorithm
// (Kong/kong spec/01-unit/09-balancer/01-generic_spec.lua, "health:" and
// "weights:" blocks). The A record "arecord.tst" -> 1.2.3.4, 5.6.7.8 becomes
// the two IP targets; weights count per address, as Kong's do.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "balance/balance.h"
#include "engine/engine.h"
#include "engine/request.h"

namespace {

using nlohmann::json;

class KongGeneric : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc::Engine::Create(svc::EngineOptions{}, &engine_).ok());
  }
  void TearDown() override { engine_->Shutdown(); }

  void Upstream(int threshold) {
    const std::string entity = std::string(R"({"name":"g","algorithm":")") + GetParam() +
                               R"(","healthchecks":{"threshold":)" + std::to_string(threshold) +
                               R"(,"passive":{"unhealthy":{"tcp_failures":100}}}})";
    svc::Status st = engine_->UpsertUpstream(entity);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void Add(const std::string& target, int weight) {
    svc::Status st = engine_->AddTarget("g", target, weight);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void SetHealth(const std::string& target, bool healthy) {
    svc::Status st = engine_->SetTargetHealth("g", target, nullptr, healthy);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  json Health() {
    std::string out;
    svc::Status st = engine_->Health("g", &out);
    EXPECT_TRUE(st.ok()) << st.message();
    return json::parse(out);
  }
  bool Healthy() { return Health()["health"] == "HEALTHY"; }
  json Weight() { return Health()["weight"]; }
  svc::Status Pick() {
    svc::Request r(engine_);
    EXPECT_TRUE(r.SetUpstream("g").ok());
    const std::string key = "k";
    EXPECT_TRUE(r.SetHashKey(key.data(), key.size()).ok());
    return r.Pick();
  }

  std::shared_ptr<svc::Engine> engine_;
};

json W(int total, int available, int unavailable) {
  return {{"total", total}, {"available", available}, {"unavailable", unavailable}};
}

// Kong: "empty balancer is unhealthy".
TEST_P(KongGeneric, EmptyBalancerIsUnhealthy) {
  Upstream(50);
  EXPECT_FALSE(Healthy());
  svc::Status st = Pick();
  EXPECT_EQ(st.code(), svc::Code::no_peer);
  EXPECT_EQ(st.message(), "failure to get a peer from the ring-balancer");
}

// Kong: "adding first address marks healthy".
TEST_P(KongGeneric, AddingTheFirstAddressMarksHealthy) {
  Upstream(50);
  EXPECT_FALSE(Healthy());
  Add("127.0.0.1:8000", 100);
  EXPECT_TRUE(Healthy());
  EXPECT_TRUE(Pick().ok());
}

// Kong: "dropping below the health threshold marks unhealthy".
TEST_P(KongGeneric, DroppingBelowTheThresholdMarksUnhealthy) {
  Upstream(50);
  Add("127.0.0.1:8000", 100);
  Add("127.0.0.2:8000", 100);
  Add("127.0.0.3:8000", 100);
  EXPECT_TRUE(Healthy());
  SetHealth("127.0.0.2:8000", false);
  EXPECT_TRUE(Healthy());  // 66% > 50
  EXPECT_TRUE(Pick().ok());
  SetHealth("127.0.0.3:8000", false);
  EXPECT_FALSE(Healthy());  // 33% <= 50
  EXPECT_EQ(Pick().code(), svc::Code::no_peer);  // even though 127.0.0.1 is up
}

// Kong: "rising above the health threshold marks healthy".
TEST_P(KongGeneric, RisingAboveTheThresholdMarksHealthy) {
  Upstream(50);
  Add("127.0.0.1:8000", 100);
  Add("127.0.0.2:8000", 100);
  Add("127.0.0.3:8000", 100);
  SetHealth("127.0.0.2:8000", false);
  SetHealth("127.0.0.3:8000", false);
  EXPECT_FALSE(Healthy());
  SetHealth("127.0.0.2:8000", true);
  EXPECT_TRUE(Healthy());
}

// Kong balancers.lua: available% must be strictly greater than the threshold,
// so exactly 50% is unhealthy at 50 and threshold 100 is never healthy.
TEST_P(KongGeneric, ThresholdIsStrict) {
  Upstream(50);
  Add("127.0.0.1:8000", 100);
  Add("127.0.0.2:8000", 100);
  SetHealth("127.0.0.2:8000", false);
  EXPECT_FALSE(Healthy());
  Upstream(100);
  SetHealth("127.0.0.2:8000", true);
  EXPECT_FALSE(Healthy());
  EXPECT_EQ(Pick().code(), svc::Code::no_peer);
  Upstream(0);
  SetHealth("127.0.0.1:8000", false);
  EXPECT_TRUE(Healthy());  // 50% > 0
}

// Kong: weights "(A) adding a host" and "switching address availability".
TEST_P(KongGeneric, WeightsCountPerAddressAndFollowAvailability) {
  Upstream(0);
  Add("127.0.0.1:8000", 100);
  EXPECT_EQ(Weight(), W(100, 100, 0));
  Add("1.2.3.4:8001", 25);
  Add("5.6.7.8:8001", 25);
  EXPECT_EQ(Weight(), W(150, 150, 0));
  SetHealth("1.2.3.4:8001", false);
  EXPECT_EQ(Weight(), W(150, 125, 25));
  EXPECT_TRUE(Healthy());
  SetHealth("1.2.3.4:8001", true);
  EXPECT_EQ(Weight(), W(150, 150, 0));
}

// Kong: weights "(A) changing weight of an available address" and
// "changing weight of an unavailable address" (health survives the change).
TEST_P(KongGeneric, ChangingWeightKeepsAvailability) {
  Upstream(0);
  Add("127.0.0.1:8000", 100);
  Add("1.2.3.4:8001", 25);
  Add("5.6.7.8:8001", 25);
  SetHealth("1.2.3.4:8001", false);
  EXPECT_EQ(Weight(), W(150, 125, 25));
  for (const char* t : {"1.2.3.4:8001", "5.6.7.8:8001"}) {
    ASSERT_TRUE(engine_->DeleteTarget("g", t).ok());
    Add(t, 50);
  }
  EXPECT_EQ(Weight(), W(200, 150, 50));
  SetHealth("1.2.3.4:8001", true);
  EXPECT_EQ(Weight(), W(200, 200, 0));
}

// Kong balancers.lua: weights count per resolved address (a target of weight
// 25 with two A records weighs 50), at the balance layer.
TEST_P(KongGeneric, TargetWeightCountsOncePerAddress) {
  std::vector<svc::balance::Target> targets(2);
  std::vector<svc::balance::Address> addresses;
  auto add = [&](uint32_t t, const std::string& ip, int port, int weight) {
    svc::balance::Address a;
    a.ip = a.kong_ip = a.host = ip;
    a.port = port;
    a.weight = weight;
    a.target = t;
    targets[t].addresses.push_back(static_cast<uint32_t>(addresses.size()));
    addresses.push_back(a);
  };
  targets[0] = {"127.0.0.1:8000", "127.0.0.1", 8000, 100, 0, false, {}};
  targets[1] = {"arecord.tst:8001", "arecord.tst", 8001, 25, 0, false, {}};
  add(0, "127.0.0.1", 8000, 100);
  add(1, "1.2.3.4", 8001, 25);
  add(1, "5.6.7.8", 8001, 25);
  std::shared_ptr<svc::balance::Snapshot> snap;
  ASSERT_TRUE(svc::balance::Snapshot::Build(GetParam(), 10000, 0, targets, addresses, {}, 0, &snap).ok());
  EXPECT_EQ(snap->total_weight(), 150);
  ASSERT_TRUE(snap->SetAvailable(1, false));
  EXPECT_EQ(snap->unavailable_weight(), 25);
  EXPECT_FALSE(snap->SetAvailable(1, false));  // Kong: "already set"
  EXPECT_TRUE(snap->healthy());
}

INSTANTIATE_TEST_SUITE_P(KongAlgorithms, KongGeneric,
                         ::testing::Values("consistent-hashing", "least-connections", "round-robin", "latency"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
