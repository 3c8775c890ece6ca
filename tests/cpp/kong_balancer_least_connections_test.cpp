// Kong's least-connections balancer unit tests, ported
// (Kong/kong spec/01-unit/09-balancer/02-least_connections_spec.lua).
//
// Kong's spec keeps the handles of unreleased picks alive; here an
// unreported svc::Request is an open connection (its count is released on
// Report or when the request goes away). The SRV records of Kong's spec
// (20.20.20.20 w20, 50.50.50.50 w50, 70.70.70.70 w70) become IP targets.
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

class KongLeastConnections : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc::Engine::Create(svc::EngineOptions{}, &engine_).ok());
    svc::Status st = engine_->UpsertUpstream(
        R"({"name":"lc","algorithm":"least-connections","healthchecks":{"passive":{"unhealthy":{"tcp_failures":100}}}})");
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    held_.clear();
    engine_->Shutdown();
  }

  void Add(const std::string& target, int weight) {
    svc::Status st = engine_->AddTarget("lc", target, weight);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void SetHealth(const std::string& target, bool healthy) {
    svc::Status st = engine_->SetTargetHealth("lc", target, nullptr, healthy);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // A pick whose connection stays open (Kong: the handle is kept).
  std::string PickAndHold() {
    auto r = std::make_unique<svc::Request>(engine_);
    EXPECT_TRUE(r->SetUpstream("lc").ok());
    svc::Status st = r->Pick();
    if (!st.ok()) return "error: " + st.message();
    std::string ip = *r->peer_ip();
    held_.push_back(std::move(r));
    return ip;
  }
  int64_t Connections(const std::string& key) {
    std::shared_ptr<svc::Upstream> up;
    EXPECT_TRUE(engine_->Find("lc", &up).ok());
    auto snap = up->snapshot();
    const int64_t i = snap->Find(key);
    EXPECT_GE(i, 0) << key;
    return i < 0 ? -1 : snap->connections(static_cast<uint32_t>(i));
  }
  int64_t TotalConnections() {
    std::shared_ptr<svc::Upstream> up;
    EXPECT_TRUE(engine_->Find("lc", &up).ok());
    auto snap = up->snapshot();
    int64_t total = 0;
    for (uint32_t i = 0; i < snap->addresses().size(); ++i) total += snap->connections(i);
    return total;
  }

  std::shared_ptr<svc::Engine> engine_;
  std::vector<std::unique_ptr<svc::Request>> held_;
};

// Kong: "honours weights".
TEST_F(KongLeastConnections, OpenConnectionsFollowTheWeights) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 20}, {"50.50.50.50", 50}}));
}

// Kong: "first returns top weights, on a 0-connection balancer".
TEST_F(KongLeastConnections, HeaviestFirstOnAnIdleBalancer) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  // (0+1)/50 < (0+1)/20; then (1+1)/50 < 1/20; then 1/20 < (2+1)/50.
  EXPECT_EQ(PickAndHold(), "50.50.50.50");
  EXPECT_EQ(PickAndHold(), "50.50.50.50");
  EXPECT_EQ(PickAndHold(), "20.20.20.20");
}

// Kong: "doesn't use unavailable addresses".
TEST_F(KongLeastConnections, UnavailableAddressIsNotUsed) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  SetHealth("50.50.50.50:80", false);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 70}}));
}

// Kong: "uses reenabled (available) addresses again".
TEST_F(KongLeastConnections, ReenabledAddressCatchesUp) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  SetHealth("20.20.20.20:80", false);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"50.50.50.50", 70}}));
  SetHealth("20.20.20.20:80", true);
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 40}, {"50.50.50.50", 100}}));
}

// Kong: "does not return already failed addresses".
TEST_F(KongLeastConnections, RetriesSkipFailedAddresses) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  Add("70.70.70.70:80", 70);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  std::vector<std::string> order;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(r.Pick().ok());
    order.push_back(*r.peer_ip());
  }
  // Each failed try is released before the retry, so heaviest first.
  EXPECT_EQ(order, (std::vector<std::string>{"70.70.70.70", "50.50.50.50", "20.20.20.20"}));
}

// Kong: "retries, after all adresses failed, restarts with previously failed ones".
// Kong clears the failed set once every address failed, so six tries visit
// each address twice.
TEST_F(KongLeastConnections, AfterAllFailedRetriesRestartTheRound) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  Add("70.70.70.70:80", 70);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  ASSERT_TRUE(r.SetRetries(5).ok());
  std::map<std::string, int> tried;
  for (int attempt = 0; attempt < 6; ++attempt) {
    svc::Status st = r.Pick();
    ASSERT_TRUE(st.ok()) << st.message();
    ++tried[*r.peer_ip()];
  }
  EXPECT_EQ(tried, (std::map<std::string, int>{{"20.20.20.20", 2}, {"50.50.50.50", 2}, {"70.70.70.70", 2}}));
}

// Kong: "releases the previous connection" (70 tries on one request hold one connection).
TEST_F(KongLeastConnections, RetryReleasesThePreviousConnection) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  ASSERT_TRUE(r.SetRetries(100).ok());
  for (int attempt = 0; attempt < 70; ++attempt) ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(TotalConnections(), 1);
}

// Kong: "releases a connection" (release() = the try reported).
TEST_F(KongLeastConnections, ReportReleasesTheConnection) {
  Add("20.20.20.20:80", 20);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(*r.peer_ip(), "20.20.20.20");
  EXPECT_EQ(Connections("20.20.20.20:80"), 1);
  ASSERT_TRUE(r.Report(kOk, 0, 0).ok());
  EXPECT_EQ(Connections("20.20.20.20:80"), 0);
}

// Kong: "releases connection of already disabled/removed address": the
// target goes away while the try is open; reporting it later is harmless and
// the rebuilt balancer starts from zero.
TEST_F(KongLeastConnections, ReleaseAfterTheTargetWasRemoved) {
  Add("20.20.20.20:80", 20);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  ASSERT_TRUE(r.Pick().ok());
  ASSERT_TRUE(engine_->DeleteTarget("lc", "20.20.20.20:80").ok());
  EXPECT_TRUE(r.Report(kTcpFailure, 0, 0).ok());
  Add("20.20.20.20:80", 20);
  EXPECT_EQ(Connections("20.20.20.20:80"), 0);
}

// svc §4.6: weight 0 is never picked (Kong's heap skips it only on the first try).
TEST_F(KongLeastConnections, WeightZeroIsNeverPicked) {
  Add("20.20.20.20:80", 0);
  Add("50.50.50.50:80", 50);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lc").ok());
  for (int attempt = 0; attempt < 4; ++attempt) {
    ASSERT_TRUE(r.Pick().ok());
    EXPECT_EQ(*r.peer_ip(), "50.50.50.50");
  }
}

}  // namespace
