// Kong's latency (EWMA) balancer unit tests, ported
// (Kong/kong spec/01-unit/09-balancer/06-latency_spec.lua).
//
// Kong feeds b:afterBalance with $upstream_connect_time +
// $upstream_response_time and sleeps between feeds; here the engine clock is
// injected (seconds under the test's control) and a try is reported with its
// round-trip time as latency_us. Kong calls afterBalance on any address; here
// a report needs a try on that address, so ReportOn() picks until it lands on
// it (the tries before are reported as TCP failures, which record no latency).
#include <cmath>
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

class KongLatency : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc::Engine::Create(svc::EngineOptions{}, &engine_, [this] { return now_; }).ok());
    svc::Status st = engine_->UpsertUpstream(
        R"({"name":"lat","algorithm":"latency","healthchecks":{"passive":{"unhealthy":{"tcp_failures":200}}}})");
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    held_.clear();
    engine_->Shutdown();
  }

  void Add(const std::string& target, int weight) {
    svc::Status st = engine_->AddTarget("lat", target, weight);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void SetHealth(const std::string& target, bool healthy) {
    svc::Status st = engine_->SetTargetHealth("lat", target, nullptr, healthy);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // Kong's afterBalance for `ip` with this round-trip time, at the current clock.
  void ReportOn(const std::string& ip, double rtt_s) {
    svc::Request r(engine_);
    ASSERT_TRUE(r.SetUpstream("lat").ok());
    ASSERT_TRUE(r.SetRetries(10).ok());
    for (int attempt = 0; attempt < 10; ++attempt) {
      svc::Status st = r.Pick();
      ASSERT_TRUE(st.ok()) << st.message();
      if (*r.peer_ip() == ip) {
        ASSERT_TRUE(r.Report(kOk, 0, static_cast<uint32_t>(std::lround(rtt_s * 1e6))).ok());
        return;
      }
      ASSERT_TRUE(r.Report(kTcpFailure, 0, 0).ok());
    }
    FAIL() << "no try landed on " << ip;
  }
  // Kong's loop over the addresses: afterBalance, sleep, afterBalance.
  void Feed(const std::vector<std::pair<std::string, double>>& rtts, double sleep_s) {
    for (const auto& [ip, rtt] : rtts) {
      ReportOn(ip, rtt);
      now_ += sleep_s;
      ReportOn(ip, rtt);
    }
  }
  std::string PickAndHold() {
    auto r = std::make_unique<svc::Request>(engine_);
    EXPECT_TRUE(r->SetUpstream("lat").ok());
    svc::Status st = r->Pick();
    if (!st.ok()) return "error: " + st.message();
    std::string ip = *r->peer_ip();
    held_.push_back(std::move(r));
    return ip;
  }

  double now_ = 1000.0;
  std::shared_ptr<svc::Engine> engine_;
  std::vector<std::unique_ptr<svc::Request>> held_;
};

// Kong: "select low latency target".
TEST_F(KongLatency, SelectsTheLowLatencyTarget) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  Feed({{"20.20.20.20", 0.1 + 0.1}, {"50.50.50.50", 0.2 + 0.2}}, 0.01);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 70}}));
}

// Kong: "first returns one, after update latency return another one".
TEST_F(KongLatency, AMeasuredAddressYieldsToAnUnmeasuredOne) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  std::map<std::string, int> counts;
  const std::string first = PickAndHold();
  ++counts[first];
  Feed({{first, 10 + 10}}, 0.01);
  const std::string second = PickAndHold();
  ++counts[second];
  Feed({{second, 20 + 20}}, 0.01);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 1}, {"50.50.50.50", 1}}));
}

// Kong: "doesn't use unavailable addresses".
TEST_F(KongLatency, UnavailableAddressIsNotUsed) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  SetHealth("50.50.50.50:80", false);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 70}}));
}

// Kong: "long time update ewma address score, ewma will use the most accurate value".
TEST_F(KongLatency, OldMeasurementsDecayAfterTenSeconds) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  Feed({{"20.20.20.20", 0.2}, {"50.50.50.50", 0.4}}, 0.01);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 70}}));
  now_ += 10;
  Feed({{"20.20.20.20", 0.4}, {"50.50.50.50", 0.2}}, 0.01);
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 70}, {"50.50.50.50", 70}}));
}

// Kong: "uses reenabled (available) addresses again".
TEST_F(KongLatency, ReenabledAddressIsUsedAgain) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  SetHealth("20.20.20.20:80", false);
  std::map<std::string, int> counts;
  for (int i = 0; i < 70; ++i) {
    ++counts[PickAndHold()];
    Feed({{"50.50.50.50", 0.4}}, 0.01);
  }
  EXPECT_EQ(counts, (std::map<std::string, int>{{"50.50.50.50", 70}}));

  SetHealth("20.20.20.20:80", true);
  Feed({{"20.20.20.20", 0.2}, {"50.50.50.50", 0.4}}, 0.01);
  ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 1}, {"50.50.50.50", 70}}));

  now_ += 3;
  Feed({{"20.20.20.20", 4}, {"50.50.50.50", 0.2}}, 0.1);
  for (int i = 0; i < 70; ++i) ++counts[PickAndHold()];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"20.20.20.20", 1}, {"50.50.50.50", 140}}));
}

// Kong latency.lua afterHostUpdate: an address leaving the balancer loses its
// EWMA; one (re)entering starts at the average EWMA of the available
// addresses (slow start). A slow address that was down and comes back is
// therefore no longer remembered as slow.
TEST_F(KongLatency, ReenabledAddressStartsAtTheAverageEwma) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 20);
  now_ += 100;  // long after creation: one report sets the EWMA to the rtt
  ReportOn("20.20.20.20", 10.0);
  ReportOn("50.50.50.50", 1.0);
  EXPECT_EQ(PickAndHold(), "50.50.50.50");
  SetHealth("20.20.20.20:80", false);
  SetHealth("20.20.20.20:80", true);
  // Kong: ewma(20) = (0 + ewma(50)) / 2 = 0.5 < 1.0.
  EXPECT_EQ(PickAndHold(), "20.20.20.20");
}

// Kong latency.lua: ewma = ewma*w + rtt*(1-w) with w = exp(-dt/10 s); the
// pick takes the lowest (ewma decayed to now) / weight. Scores below are at
// the pick's time (t = seconds after the first report).
TEST_F(KongLatency, ScoreIsDecayedEwmaOverWeight) {
  Add("20.20.20.20:80", 10);
  Add("50.50.50.50:80", 30);
  now_ += 100;                   // long after creation: w ~ e^-10, ewma ~ rtt
  ReportOn("20.20.20.20", 1.0);  // ewma(20) = 1.0
  ReportOn("50.50.50.50", 2.5);  // ewma(50) = 2.5
  EXPECT_EQ(PickAndHold(), "50.50.50.50");  // 2.5/30 = 0.083 < 1.0/10
  now_ += 5;                                // t = 5
  ReportOn("20.20.20.20", 0.1);             // ewma(20) = 1.0 e^-.5 + 0.1 (1-e^-.5) = 0.646
  EXPECT_EQ(PickAndHold(), "50.50.50.50");  // 0.0646 vs 2.5 e^-.5 / 30 = 0.0505
  now_ += 5;                                // t = 10
  ReportOn("20.20.20.20", 0.01);            // ewma(20) = 0.396
  EXPECT_EQ(PickAndHold(), "50.50.50.50");  // 0.0396 vs 2.5 e^-1 / 30 = 0.0307
  now_ += 1;                                // t = 11
  ReportOn("20.20.20.20", 0.001);           // ewma(20) = 0.358
  EXPECT_EQ(PickAndHold(), "50.50.50.50");  // 0.0358 vs 0.0277
  now_ += 10;                               // t = 21: both decay by e^-1, order kept
  EXPECT_EQ(PickAndHold(), "50.50.50.50");
  ReportOn("50.50.50.50", 5.0);             // ewma(50) = 2.5 e^-2.1 + 5 (1-e^-2.1) = 4.69
  EXPECT_EQ(PickAndHold(), "20.20.20.20");  // 0.358 e^-1 / 10 = 0.0132 vs 0.156
}

// Kong: "does not return already failed addresses".
TEST_F(KongLatency, RetriesSkipFailedAddresses) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  Add("70.70.70.70:80", 70);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lat").ok());
  std::set<std::string> tried;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(r.Pick().ok());
    EXPECT_TRUE(tried.insert(*r.peer_ip()).second) << *r.peer_ip();
  }
  EXPECT_EQ(tried.size(), 3u);
}

// Kong: "retries, after all addresses failed, retry end" (the 4th getPeer
// returns no peer: latency.lua logs "all endpoints have been retried").
TEST_F(KongLatency, AfterAllAddressesFailedRetriesEnd) {
  Add("20.20.20.20:80", 20);
  Add("50.50.50.50:80", 50);
  Add("70.70.70.70:80", 70);
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("lat").ok());
  std::map<std::string, int> tried;
  for (int attempt = 0; attempt < 4; ++attempt)
    if (r.Pick().ok()) ++tried[*r.peer_ip()];
  EXPECT_EQ(tried, (std::map<std::string, int>{{"20.20.20.20", 1}, {"50.50.50.50", 1}, {"70.70.70.70", 1}}));
}

}  // namespace
