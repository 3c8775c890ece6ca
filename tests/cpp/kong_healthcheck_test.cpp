// lua-resty-healthcheck's state machine (Kong/lua-resty-healthcheck
// t/with_worker-events/05-report_failure.t, 06-report_http_status.t,
// 07-report_tcp_failure.t, 08-report_timeout.t, 12-set_target_status.t) and
// Kong's passive glue (bal/healthcheckers.lua), ported: four states, separate
// counters, per-counter thresholds, a zero threshold disables the counter,
// statuses in neither list are ignored, mostly_* states do not change
// balancer availability, manual status forcing resets the counters.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "health/health.h"

namespace {

using svc::health::AddressHealth;
using svc::health::Mode;
using svc::health::Report;
using svc::health::State;

svc::config::HealthchecksConfig Checks(const std::string& healthchecks_json) {
  svc::config::UpstreamConfig cfg;
  const auto entity = nlohmann::json::parse(R"({"name":"u","healthchecks":)" + healthchecks_json + "}");
  svc::Status st = svc::config::ParseUpstream(entity, &cfg);
  EXPECT_TRUE(st.ok()) << st.message();
  return cfg.healthchecks;
}

// The thresholds of lua-resty-healthcheck's 06-report_http_status.t TEST 1.
const char* kHttp3Tcp2 = R"({
  "active":  {"healthy": {"interval": 999, "successes": 3},
              "unhealthy": {"interval": 999, "tcp_failures": 2, "http_failures": 3}},
  "passive": {"healthy": {"successes": 3},
              "unhealthy": {"tcp_failures": 2, "http_failures": 3, "timeouts": 2}}})";

AddressHealth Starting(bool healthy) {
  AddressHealth h;
  svc::health::Force(healthy, &h);
  return h;
}

// 06-report_http_status.t TEST 1 "report_http_status() failures active + passive".
TEST(KongHealthcheck, ThreeHttpFailuresMakeUnhealthyInEachMode) {
  const auto hc = Checks(kHttp3Tcp2);
  for (Mode mode : {Mode::active, Mode::passive}) {
    AddressHealth h = Starting(true);
    const auto r = svc::health::ClassifyStatus(hc, mode, 500);
    ASSERT_EQ(r, Report::http_failure);
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), State::mostly_healthy);  // 1/3
    EXPECT_TRUE(svc::health::Available(h.state));
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), std::nullopt);  // 2/3
    EXPECT_EQ(h.http_failures, 2);
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), State::unhealthy);  // 3/3
    EXPECT_FALSE(svc::health::Available(h.state));
    // Already fully unhealthy: further failures are not counted.
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), std::nullopt);
    EXPECT_EQ(h.state, State::unhealthy);
  }
}

// 06-report_http_status.t TEST 2 "report_http_status() successes active + passive"
// (successes = 4, starting unhealthy).
TEST(KongHealthcheck, FourSuccessesMakeHealthyThroughMostlyUnhealthy) {
  const auto hc = Checks(R"({"active":{"healthy":{"interval":999,"successes":4},
                                       "unhealthy":{"interval":999,"tcp_failures":2,"http_failures":3}},
                             "passive":{"healthy":{"successes":4},"unhealthy":{"tcp_failures":2,"http_failures":3}}})");
  for (Mode mode : {Mode::active, Mode::passive}) {
    AddressHealth h = Starting(false);
    const auto r = svc::health::ClassifyStatus(hc, mode, 200);
    ASSERT_EQ(r, Report::success);
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), State::mostly_unhealthy);
    EXPECT_FALSE(svc::health::Available(h.state));  // mostly_unhealthy is still out
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), std::nullopt);
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), std::nullopt);
    EXPECT_EQ(svc::health::Apply(hc, mode, *r, &h), State::healthy);
    EXPECT_TRUE(svc::health::Available(h.state));
  }
}

// 06-report_http_status.t TESTs 3-5: a zero threshold makes the report a no-op.
TEST(KongHealthcheck, ZeroThresholdDisablesTheCounter) {
  const auto hc = Checks(R"({"active":{"healthy":{"interval":999,"successes":0},
                                       "unhealthy":{"interval":999,"tcp_failures":2,"http_failures":0}},
                             "passive":{"healthy":{"successes":0},"unhealthy":{"tcp_failures":2,"http_failures":0}}})");
  for (Mode mode : {Mode::active, Mode::passive}) {
    AddressHealth down = Starting(false);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(svc::health::Apply(hc, mode, Report::success, &down), std::nullopt);
    EXPECT_EQ(down.state, State::unhealthy);
    EXPECT_EQ(down.successes, 0);
    AddressHealth up = Starting(true);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(svc::health::Apply(hc, mode, Report::http_failure, &up), std::nullopt);
    EXPECT_EQ(up.state, State::healthy);
    EXPECT_EQ(up.http_failures, 0);
  }
}

// Status classification (hc report_http_status): healthy list -> success,
// unhealthy list or 0 -> HTTP failure, anything else ignored.
TEST(KongHealthcheck, StatusesInNeitherListAreIgnored) {
  const auto hc = Checks("{}");  // Kong's default lists
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 200), Report::success);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 308), Report::success);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 500), Report::http_failure);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 429), Report::http_failure);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 0), Report::http_failure);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 404), std::nullopt);  // only in active's list
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::passive, 502), std::nullopt);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::active, 404), Report::http_failure);
  EXPECT_EQ(svc::health::ClassifyStatus(hc, Mode::active, 201), std::nullopt);
}

// hc incr_counter: each failure type has its own counter and threshold;
// counters are not summed.
TEST(KongHealthcheck, FailureCountersAreSeparate) {
  const auto hc = Checks(kHttp3Tcp2);
  AddressHealth h = Starting(true);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::http_failure, &h), State::mostly_healthy);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::http_failure, &h), std::nullopt);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::tcp_failure, &h), std::nullopt);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::timeout, &h), std::nullopt);
  // 2 HTTP + 1 TCP + 1 timeout: no counter at its limit.
  EXPECT_EQ(h.state, State::mostly_healthy);
  EXPECT_EQ(h.http_failures, 2);
  EXPECT_EQ(h.tcp_failures, 1);
  EXPECT_EQ(h.timeouts, 1);
  // 07-report_tcp_failure.t: the second TCP failure reaches tcp_failures = 2.
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::tcp_failure, &h), State::unhealthy);
}

// 08-report_timeout.t: timeouts count on their own counter up to their limit.
TEST(KongHealthcheck, TimeoutsReachTheirOwnLimit) {
  const auto hc = Checks(kHttp3Tcp2);
  AddressHealth h = Starting(true);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::timeout, &h), State::mostly_healthy);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::timeout, &h), State::unhealthy);
}

// hc incr_counter: a success clears all three failure counters; a failure
// clears only the success counter.
TEST(KongHealthcheck, SuccessClearsFailuresAndFailureClearsSuccesses) {
  const auto hc = Checks(kHttp3Tcp2);
  AddressHealth h = Starting(true);
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  svc::health::Apply(hc, Mode::passive, Report::tcp_failure, &h);
  ASSERT_EQ(h.state, State::mostly_healthy);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::success, &h), std::nullopt);
  EXPECT_EQ(h.http_failures, 0);
  EXPECT_EQ(h.tcp_failures, 0);
  EXPECT_EQ(h.timeouts, 0);
  EXPECT_EQ(h.successes, 1);
  // The counts start over: two more HTTP failures are not three.
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  EXPECT_EQ(h.successes, 0);
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  EXPECT_NE(h.state, State::unhealthy);
  // Three successes from mostly_healthy: healthy again.
  svc::health::Apply(hc, Mode::passive, Report::success, &h);
  svc::health::Apply(hc, Mode::passive, Report::success, &h);
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::success, &h), State::healthy);
}

// 12-set_target_status.t: forcing sets the state and resets the counters.
TEST(KongHealthcheck, ForcingResetsTheCounters) {
  const auto hc = Checks(kHttp3Tcp2);
  AddressHealth h = Starting(true);
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  svc::health::Apply(hc, Mode::passive, Report::http_failure, &h);
  svc::health::Force(true, &h);
  EXPECT_EQ(h.state, State::healthy);
  EXPECT_EQ(h.http_failures, 0);
  // One failure after the reset is 1/3, not 3/3.
  EXPECT_EQ(svc::health::Apply(hc, Mode::passive, Report::http_failure, &h), State::mostly_healthy);
  svc::health::Force(false, &h);
  EXPECT_EQ(h.state, State::unhealthy);
  EXPECT_EQ(h.http_failures, 0);
}

// ---------------------------------------------------------------------------
// Through the engine: passive reports from tries, availability, events.

class KongHealthcheckEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(svc::Engine::Create(svc::EngineOptions{}, &engine_).ok());
    engine_->OnHealth([this](const std::string& upstream, const std::string& target,
                             const std::string& address, bool healthy) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(upstream + " " + target + " " + address + (healthy ? " healthy" : " unhealthy"));
    });
    svc::Status st = engine_->UpsertUpstream(
        std::string(R"({"name":"hc","algorithm":"round-robin","healthchecks":)") + kHttp3Tcp2 + "}");
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(engine_->AddTarget("hc", "127.0.0.1:2119", 100).ok());
  }
  void TearDown() override { engine_->Shutdown(); }

  // One try on the only target, reported with this outcome.
  void Try(svc::Engine::Outcome outcome, int status = 0) {
    svc::Request r(engine_);
    ASSERT_TRUE(r.SetUpstream("hc").ok());
    svc::Status st = r.Pick();
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_TRUE(r.Report(static_cast<int>(outcome), status, 1000).ok());
  }
  std::string TargetHealth() {
    std::string out;
    EXPECT_TRUE(engine_->Health("hc", &out).ok());
    return nlohmann::json::parse(out)["data"][0]["health"];
  }
  std::vector<std::string> Events(size_t want) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (events_.size() >= want) return events_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  std::shared_ptr<svc::Engine> engine_;
  std::mutex mu_;
  std::vector<std::string> events_;
};

// Kong passive glue + 06 TEST 1: three 500s take the address out; the
// mostly_healthy steps before that keep it in; one event is posted.
TEST_F(KongHealthcheckEngine, PassiveHttpFailuresTakeTheAddressOut) {
  Try(svc::Engine::Outcome::http, 500);
  Try(svc::Engine::Outcome::http, 500);
  EXPECT_EQ(TargetHealth(), "HEALTHY");  // mostly_healthy stays available
  Try(svc::Engine::Outcome::http, 500);
  EXPECT_EQ(TargetHealth(), "UNHEALTHY");
  svc::Request r(engine_);
  ASSERT_TRUE(r.SetUpstream("hc").ok());
  EXPECT_EQ(r.Pick().code(), svc::Code::no_peer);
  EXPECT_EQ(Events(1), (std::vector<std::string>{"hc 127.0.0.1:2119 127.0.0.1:2119 unhealthy"}));
}

// Statuses in neither passive list (404, 502) change nothing.
TEST_F(KongHealthcheckEngine, IgnoredStatusesDoNotCount) {
  for (int i = 0; i < 5; ++i) Try(svc::Engine::Outcome::http, 404);
  for (int i = 0; i < 5; ++i) Try(svc::Engine::Outcome::http, 502);
  EXPECT_EQ(TargetHealth(), "HEALTHY");
  Try(svc::Engine::Outcome::http, 500);
  Try(svc::Engine::Outcome::http, 500);
  EXPECT_EQ(TargetHealth(), "HEALTHY");  // 2/3: the ignored ones did not count
}

// TCP failures and timeouts reach their own limits (2 each here).
TEST_F(KongHealthcheckEngine, TcpFailuresAndTimeoutsHaveTheirOwnLimits) {
  Try(svc::Engine::Outcome::tcp_failure);
  Try(svc::Engine::Outcome::timeout);
  Try(svc::Engine::Outcome::http, 500);
  EXPECT_EQ(TargetHealth(), "HEALTHY");
  Try(svc::Engine::Outcome::timeout);
  EXPECT_EQ(TargetHealth(), "UNHEALTHY");
}

// Kong's manual control (PUT .../healthy|unhealthy, set_target_status):
// forcing moves the address at once, resets the counters and posts events.
TEST_F(KongHealthcheckEngine, SetTargetHealthForcesAndResets) {
  Try(svc::Engine::Outcome::http, 500);
  Try(svc::Engine::Outcome::http, 500);
  ASSERT_TRUE(engine_->SetTargetHealth("hc", "127.0.0.1:2119", nullptr, false).ok());
  EXPECT_EQ(TargetHealth(), "UNHEALTHY");
  ASSERT_TRUE(engine_->SetTargetHealth("hc", "127.0.0.1:2119", "127.0.0.1:2119", true).ok());
  EXPECT_EQ(TargetHealth(), "HEALTHY");
  // The two failures before were reset: one more is 1/3.
  Try(svc::Engine::Outcome::http, 500);
  EXPECT_EQ(TargetHealth(), "HEALTHY");
  EXPECT_EQ(Events(2), (std::vector<std::string>{"hc 127.0.0.1:2119 127.0.0.1:2119 unhealthy",
                                                 "hc 127.0.0.1:2119 127.0.0.1:2119 healthy"}));
}

}  // namespace
