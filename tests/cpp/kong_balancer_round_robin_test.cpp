// Kong's round-robin balancer unit tests, ported
// (Kong/kong spec/01-unit/09-balancer/04-round_robin_spec.lua).
//
// Kong builds a wheel of weight/gcd slots per address and shuffles it; its
// spec counts wheel slots (count_indices). svc has no shuffled wheel
// (DESIGN §4.4: deterministic smooth weighted round-robin, exact over every
// cycle of sum(weight)/gcd picks), so the wheel counts are asserted as pick
// counts over whole cycles, which is what the wheel means for traffic.
// Mocked DNS names become their IPs as targets.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/request.h"

namespace {

constexpr int kOk = static_cast<int>(svc::Engine::Outcome::ok);
constexpr int kTcpFailure = static_cast<int>(svc::Engine::Outcome::tcp_failure);

std::string PeerKey(const svc::Request& r) {
  const std::string& ip = *r.peer_ip();
  const std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  return host + ":" + std::to_string(r.peer_port());
}

class KongRoundRobin : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc::Engine::Create(svc::EngineOptions{}, &engine_).ok());
    // A passive tcp_failures threshold only so that a checker exists and
    // SetTargetHealth works (Kong's spec calls b:setAddressStatus directly).
    svc::Status st = engine_->UpsertUpstream(
        R"({"name":"rr","algorithm":"round-robin","healthchecks":{"passive":{"unhealthy":{"tcp_failures":100}}}})");
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override { engine_->Shutdown(); }

  void Add(const std::string& target, int weight) {
    svc::Status st = engine_->AddTarget("rr", target, weight);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void SetWeight(const std::string& target, int weight) {
    ASSERT_TRUE(engine_->DeleteTarget("rr", target).ok());
    Add(target, weight);
  }
  void Down(const std::string& target) {
    svc::Status st = engine_->SetTargetHealth("rr", target, nullptr, false);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::string Pick() {
    svc::Request r(engine_);
    EXPECT_TRUE(r.SetUpstream("rr").ok());
    svc::Status st = r.Pick();
    if (!st.ok()) return "error: " + st.message();
    return PeerKey(r);
  }
  std::map<std::string, int> Run(int picks) {
    std::map<std::string, int> counts;
    for (int i = 0; i < picks; ++i) ++counts[Pick()];
    return counts;
  }
  // Every cycle of `cycle` picks gives exactly `wheel`.
  void ExpectExactCycles(int cycles, const std::map<std::string, int>& wheel) {
    int cycle = 0;
    for (const auto& [k, n] : wheel) cycle += n;
    for (int c = 0; c < cycles; ++c) EXPECT_EQ(Run(cycle), wheel) << "cycle " << c + 1;
  }

  std::shared_ptr<svc::Engine> engine_;
};

// Kong: "gets an IP address and port number; round-robin" (two laps of a 3-slot wheel).
TEST_F(KongRoundRobin, PicksInWeightRatio) {
  Add("1.2.3.4:123", 100);
  Add("5.6.7.8:321", 50);
  EXPECT_EQ(Run(30), (std::map<std::string, int>{{"1.2.3.4:123", 20}, {"5.6.7.8:321", 10}}));
  // svc: exact over every cycle of 3, not only over the whole wheel.
  ExpectExactCycles(10, {{"1.2.3.4:123", 2}, {"5.6.7.8:321", 1}});
}

// Kong: "gets an IP address and port number; round-robin skips unhealthy addresses".
TEST_F(KongRoundRobin, SkipsUnhealthyAddresses) {
  Add("1.2.3.4:123", 100);
  Add("5.6.7.8:321", 50);
  Down("1.2.3.4:123");
  EXPECT_EQ(Run(30), (std::map<std::string, int>{{"5.6.7.8:321", 30}}));
}

// Kong: "equal weights and 'fitting' indices" (wheel 1 + 1).
TEST_F(KongRoundRobin, EqualWeightsAlternate) {
  Add("1.2.3.4:80", 100);
  Add("1.2.3.5:80", 100);
  ExpectExactCycles(5, {{"1.2.3.4:80", 1}, {"1.2.3.5:80", 1}});
}

// Kong: "adding a host (fitting indices)" (wheel 1 + 1 + 2).
TEST_F(KongRoundRobin, AddingAHostFitsItsWeight) {
  Add("1.2.3.4:80", 5);
  Add("1.2.3.5:80", 5);
  ExpectExactCycles(2, {{"1.2.3.4:80", 1}, {"1.2.3.5:80", 1}});
  Add("[::1]:8080", 10);
  ExpectExactCycles(5, {{"1.2.3.4:80", 1}, {"1.2.3.5:80", 1}, {"[::1]:8080", 2}});
}

// Kong: "weight change updates properly" (wheel 1+1+1, then 5+5+2).
TEST_F(KongRoundRobin, WeightChangeUpdatesTheCycle) {
  Add("1.2.3.4:80", 10);
  Add("1.2.3.5:80", 10);
  Add("[::1]:80", 10);
  ExpectExactCycles(3, {{"1.2.3.4:80", 1}, {"1.2.3.5:80", 1}, {"[::1]:80", 1}});
  SetWeight("1.2.3.4:80", 25);
  SetWeight("1.2.3.5:80", 25);
  ExpectExactCycles(3, {{"1.2.3.4:80", 5}, {"1.2.3.5:80", 5}, {"[::1]:80", 2}});
}

// Kong: "weight change SRV record, has no effect" (per-address weights 10,10,5,5 -> 2,2,1,1).
TEST_F(KongRoundRobin, PerAddressWeightsGiveTheCycle) {
  Add("1.2.3.4:80", 10);
  Add("1.2.3.5:80", 10);
  Add("1.2.3.6:8001", 5);
  Add("1.2.3.6:8002", 5);
  ExpectExactCycles(3, {{"1.2.3.4:80", 2}, {"1.2.3.5:80", 2}, {"1.2.3.6:8001", 1}, {"1.2.3.6:8002", 1}});
}

// Kong: "weight change for unresolved record, updates properly" (final wheel 2 + 1).
TEST_F(KongRoundRobin, WeightTwentyAgainstTenGivesTwoToOne) {
  Add("1.2.3.4:80", 10);
  Add("[::1]:80", 10);
  ExpectExactCycles(2, {{"1.2.3.4:80", 1}, {"[::1]:80", 1}});
  SetWeight("1.2.3.4:80", 20);
  ExpectExactCycles(3, {{"1.2.3.4:80", 2}, {"[::1]:80", 1}});
}

// Kong: "renewed DNS A record; unhealthy entries remain unhealthy after renewal".
// Wheel 1 + 1 + 2 with 1.2.3.4 down: 15 picks are 5 laps of the 3 available
// slots, so 1.2.3.5 gets 5 and 9.9.9.9 gets 10; a rebuild keeps it so.
TEST_F(KongRoundRobin, UnhealthyAddressStaysOutAndTheRestKeepTheirRatio) {
  Add("1.2.3.4:80", 5);
  Add("1.2.3.5:80", 5);
  Add("9.9.9.9:123", 10);
  Down("1.2.3.4:80");
  const std::map<std::string, int> want = {{"1.2.3.5:80", 5}, {"9.9.9.9:123", 10}};
  EXPECT_EQ(Run(15), want);
  // Renewal: the balancer is rebuilt; health survives.
  ASSERT_TRUE(engine_->UpsertUpstream(
      R"({"name":"rr","algorithm":"round-robin","healthchecks":{"passive":{"unhealthy":{"tcp_failures":100}}}})").ok());
  EXPECT_EQ(Run(15), want);
}

// Kong: "SRV target with A record targets can be changed with a handle"
// (every address marked down -> "Balancer is unhealthy"; svc's message is Kong's 503 body).
TEST_F(KongRoundRobin, AllAddressesDownIsNoPeer) {
  Add("12.34.56.1:8001", 5);
  Add("12.34.56.2:8002", 5);
  Down("12.34.56.1:8001");
  Down("12.34.56.2:8002");
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("rr").ok());
  svc::Status st = r.Pick();
  EXPECT_EQ(st.code(), svc::Code::no_peer);
  EXPECT_EQ(st.message(), "failure to get a peer from the ring-balancer");
}

// svc §4.3 (Kong #5907: Kong's retry is the next wheel slot and may be the same address).
TEST_F(KongRoundRobin, RetryNeverRepeatsWhileAnUntriedAddressExists) {
  Add("1.2.3.4:80", 100);
  Add("1.2.3.5:80", 50);
  Add("1.2.3.6:80", 10);
  for (int n = 0; n < 40; ++n) {
    svc::Request r(engine_);
    ASSERT_TRUE(r.SetUpstream("rr").ok());
    std::set<std::string> tried;
    for (int attempt = 0; attempt < 3; ++attempt) {
      ASSERT_TRUE(r.Pick().ok());
      EXPECT_TRUE(tried.insert(PeerKey(r)).second) << "request " << n << " repeated " << PeerKey(r);
      ASSERT_TRUE(r.Report(kTcpFailure, 0, 0).ok());
    }
  }
}

// svc §4.6 (Kong's wheel gives weight 0 no slot; svc never picks it, retries included).
TEST_F(KongRoundRobin, WeightZeroIsNeverPicked) {
  Add("1.2.3.4:80", 0);
  Add("5.6.7.8:80", 10);
  EXPECT_EQ(Run(20), (std::map<std::string, int>{{"5.6.7.8:80", 20}}));
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("rr").ok());
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(r.Pick().ok());
    EXPECT_EQ(PeerKey(r), "5.6.7.8:80");
    ASSERT_TRUE(r.Report(kOk, 0, 0).ok());
  }
}

}  // namespace
