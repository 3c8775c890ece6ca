// DNS-driven targets against a real DNS server (dnsmasq on a loopback port):
// A, AAAA and SRV answers become addresses, picks follow record changes,
// SRV ports and weights and priorities are honoured, use_srv_name names the
// peer, a failing server keeps the last good answers for stale_ttl, and a
// name that never resolved gives SVC_EDNS.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/request.h"
#include "support/dnsmasq.h"

namespace svc {
namespace {

using nlohmann::json;
using testing::DnsRecord;
using testing::Dnsmasq;
using namespace std::chrono_literals;

// svc_outcome values (SVC_OUTCOME_OK, SVC_OUTCOME_TCP_FAILURE).
constexpr int kOk = 0, kTcpFailure = 2;

class DnsTargets : public ::testing::Test {
 protected:
  void StartDns(const std::vector<DnsRecord>& records) {
    Status st = dns_.Start(records);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void MakeEngine(const std::string& extra = "") {
    EngineOptions o;
    ASSERT_TRUE(ParseEngineOptions(R"({"dns": {"servers": [")" + dns_.server() + "\"]" + extra + "}}", &o).ok());
    Status st = Engine::Create(o, &engine_);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void TearDown() override {
    if (engine_) engine_->Shutdown();
  }
  void Upstream(const std::string& target, const std::string& extra = "") {
    ASSERT_TRUE(engine_->UpsertUpstream(R"({"name": "u")" + extra + "}").ok());
    Status st = engine_->AddTarget("u", target, 100);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  // "ip:port" of n first picks, counted.
  std::map<std::string, int> Picks(int n, Status* failure = nullptr) {
    std::map<std::string, int> out;
    for (int i = 0; i < n; ++i) {
      Request r(engine_);
      EXPECT_TRUE(r.SetUpstream("u").ok());
      Status st = r.Pick();
      if (!st.ok()) {
        if (failure) *failure = st;
        return out;
      }
      ++out[*r.peer_ip() + ":" + std::to_string(r.peer_port())];
      r.Report(kOk, 0, 0);
    }
    return out;
  }
  // Polls until the picks' set of addresses is `want` (up to 10 s).
  bool WaitForPeers(const std::map<std::string, int>& want, int n) {
    for (int i = 0; i < 500; ++i) {
      if (Picks(n) == want) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  json Health() {
    std::string text;
    EXPECT_TRUE(engine_->Health("u", &text).ok());
    return json::parse(text);
  }

  Dnsmasq dns_;
  std::shared_ptr<Engine> engine_;
};

TEST_F(DnsTargets, ARecordsBecomeAddressesAndPicksFollowChanges) {
  StartDns({DnsRecord::Address("web.svc.test", "127.0.0.11", 1), DnsRecord::Address("web.svc.test", "127.0.0.12", 1)});
  MakeEngine();
  Upstream("web.svc.test:8080");
  EXPECT_EQ(Picks(4), (std::map<std::string, int>{{"127.0.0.11:8080", 2}, {"127.0.0.12:8080", 2}}));
  json h = Health();
  EXPECT_EQ(h["data"][0]["health"], "HEALTHCHECKS_OFF");
  EXPECT_EQ(h["data"][0]["data"]["addresses"].size(), 2u);

  // .12 leaves, .13 arrives: after the 1 s TTL the picks follow.
  ASSERT_TRUE(dns_.SetRecords({DnsRecord::Address("web.svc.test", "127.0.0.11", 1),
                               DnsRecord::Address("web.svc.test", "127.0.0.13", 1)}).ok());
  EXPECT_TRUE(WaitForPeers({{"127.0.0.11:8080", 2}, {"127.0.0.13:8080", 2}}, 4));
}

TEST_F(DnsTargets, SrvPortsAndWeightsAndOnlyTheTopPriority) {
  StartDns({DnsRecord::Address("a.svc.test", "127.0.0.21", 30), DnsRecord::Address("b.svc.test", "127.0.0.22", 30),
            DnsRecord::Address("c.svc.test", "127.0.0.23", 30),
            DnsRecord::Srv("api.svc.test", "a.svc.test", 9001, 10, 10, 30),
            DnsRecord::Srv("api.svc.test", "b.svc.test", 9002, 10, 30, 30),
            DnsRecord::Srv("api.svc.test", "c.svc.test", 9003, 20, 100, 30)});
  MakeEngine();
  Upstream("api.svc.test");
  // Round-robin is exact per cycle of 40 (weights 10 and 30); priority 20 never.
  EXPECT_EQ(Picks(400), (std::map<std::string, int>{{"127.0.0.21:9001", 100}, {"127.0.0.22:9002", 300}}));
  json addrs = Health()["data"][0]["data"]["addresses"];
  ASSERT_EQ(addrs.size(), 2u);
  EXPECT_EQ(addrs[0]["weight"], 10);
  EXPECT_EQ(addrs[1]["weight"], 30);
}

TEST_F(DnsTargets, SrvWeightZeroCountsAsOne) {
  StartDns({DnsRecord::Address("a.svc.test", "127.0.0.21", 30), DnsRecord::Address("b.svc.test", "127.0.0.22", 30),
            DnsRecord::Srv("api.svc.test", "a.svc.test", 9001, 10, 0, 30),
            DnsRecord::Srv("api.svc.test", "b.svc.test", 9002, 10, 1, 30)});
  MakeEngine();
  Upstream("api.svc.test");
  EXPECT_EQ(Picks(10), (std::map<std::string, int>{{"127.0.0.21:9001", 5}, {"127.0.0.22:9002", 5}}));
}

TEST_F(DnsTargets, UseSrvNameMakesTheSrvTargetThePeerHost) {
  StartDns({DnsRecord::Address("a.svc.test", "127.0.0.21", 30), DnsRecord::Srv("api.svc.test", "a.svc.test", 9001, 10, 1, 30)});
  MakeEngine();
  for (bool use : {false, true}) {
    Upstream("api.svc.test", use ? R"(, "use_srv_name": true)" : "");
    Request r(engine_);
    ASSERT_TRUE(r.SetUpstream("u").ok());
    ASSERT_TRUE(r.Pick().ok());
    EXPECT_EQ(*r.peer_host(), use ? "a.svc.test" : "api.svc.test");
    ASSERT_TRUE(engine_->DeleteUpstream("u").ok());
  }
}

TEST_F(DnsTargets, AaaaOnlyWhenTheOrderAsksForIt) {
  StartDns({DnsRecord::Address("v6.svc.test", "::1", 30)});
  MakeEngine(R"(, "order": ["LAST", "SRV", "A", "AAAA"])");
  Upstream("v6.svc.test:8000");
  EXPECT_EQ(Picks(2), (std::map<std::string, int>{{"::1:8000", 2}}));
  engine_->Shutdown();
  MakeEngine();  // Kong's default order has no AAAA
  Upstream("v6.svc.test:8000");
  Status failure;
  Picks(1, &failure);
  EXPECT_EQ(failure.code(), Code::dns);
}

TEST_F(DnsTargets, ANameThatNeverResolvedGivesEdnsUntilItDoes) {
  StartDns({DnsRecord::Address("other.svc.test", "127.0.0.31", 30)});
  MakeEngine(R"(, "not_found_ttl": 0.2)");
  Upstream("late.svc.test:8000");
  Status failure;
  EXPECT_TRUE(Picks(1, &failure).empty());
  EXPECT_EQ(failure.code(), Code::dns);
  EXPECT_EQ(failure.message(), "name resolution failed");
  EXPECT_EQ(Health()["data"][0]["health"], "DNS_ERROR");

  ASSERT_TRUE(dns_.SetRecords({DnsRecord::Address("late.svc.test", "127.0.0.32", 30)}).ok());
  EXPECT_TRUE(WaitForPeers({{"127.0.0.32:8000", 1}}, 1));
  EXPECT_EQ(Health()["data"][0]["health"], "HEALTHCHECKS_OFF");
}

TEST_F(DnsTargets, AFailingServerKeepsTheLastGoodAnswersForStaleTtl) {
  StartDns({DnsRecord::Address("web.svc.test", "127.0.0.41", 1)});
  MakeEngine(R"(, "stale_ttl": 3600, "error_ttl": 0.2)");
  Upstream("web.svc.test:8000");
  ASSERT_EQ(Picks(1), (std::map<std::string, int>{{"127.0.0.41:8000", 1}}));
  dns_.Stop();
  std::this_thread::sleep_for(2500ms);  // the TTL ran out and refreshes failed
  EXPECT_EQ(Picks(2), (std::map<std::string, int>{{"127.0.0.41:8000", 2}}));
}

TEST_F(DnsTargets, PastStaleTtlAFailingServerTakesTheAddressesAway) {
  StartDns({DnsRecord::Address("web.svc.test", "127.0.0.41", 1)});
  MakeEngine(R"(, "stale_ttl": 0.5, "error_ttl": 0.2)");
  Upstream("web.svc.test:8000");
  ASSERT_EQ(Picks(1), (std::map<std::string, int>{{"127.0.0.41:8000", 1}}));
  dns_.Stop();
  Status failure;
  for (int i = 0; i < 500 && failure.ok(); ++i) {
    Picks(1, &failure);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(failure.code(), Code::dns);
  EXPECT_EQ(Health()["data"][0]["health"], "DNS_ERROR");
  // The server comes back: so do the addresses.
  StartDns({DnsRecord::Address("web.svc.test", "127.0.0.42", 1)});
  EXPECT_TRUE(WaitForPeers({{"127.0.0.42:8000", 1}}, 1));
}

TEST_F(DnsTargets, HealthOfAnAddressThatStaysSurvivesARefresh) {
  StartDns({DnsRecord::Address("web.svc.test", "127.0.0.51", 1), DnsRecord::Address("web.svc.test", "127.0.0.52", 1)});
  MakeEngine();
  Upstream("web.svc.test:8000", R"(, "healthchecks": {"passive": {"unhealthy": {"tcp_failures": 1}}})");
  ASSERT_TRUE(engine_->SetTargetHealth("u", "web.svc.test:8000", "127.0.0.51:8000", false).ok());
  ASSERT_TRUE(dns_.SetRecords({DnsRecord::Address("web.svc.test", "127.0.0.51", 1),
                               DnsRecord::Address("web.svc.test", "127.0.0.53", 1)}).ok());
  EXPECT_TRUE(WaitForPeers({{"127.0.0.53:8000", 4}}, 4));  // .51 still unhealthy, .52 gone
  json addrs = Health()["data"][0]["data"]["addresses"];
  ASSERT_EQ(addrs.size(), 2u);
  EXPECT_EQ(addrs[0]["ip"], "127.0.0.51");
  EXPECT_EQ(addrs[0]["health"], "UNHEALTHY");
}

TEST_F(DnsTargets, AnExplicitTargetNameResolvesThroughTheSameResolver) {
  StartDns({DnsRecord::Address("one.svc.test", "127.0.0.61", 30), DnsRecord::Address("one.svc.test", "127.0.0.62", 30)});
  MakeEngine();
  Request r(engine_);
  ASSERT_TRUE(r.SetTarget("one.svc.test.", 8000).ok());
  ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(*r.peer_ip(), "127.0.0.61");
  EXPECT_EQ(*r.peer_host(), "one.svc.test");
  r.Report(kTcpFailure, 0, 0);
  ASSERT_TRUE(r.Pick().ok());
  EXPECT_EQ(*r.peer_ip(), "127.0.0.62");  // the next record on the retry
  Request bad(engine_);
  ASSERT_TRUE(bad.SetTarget("missing.svc.test", 8000).ok());
  Status st = bad.Pick();
  EXPECT_EQ(st.code(), Code::dns);
  EXPECT_EQ(st.message(), "name resolution failed");
}

TEST(DnsOptionsTest, AResolverAddressThatIsNotAnAddressIsRejected) {
  EngineOptions o;
  ASSERT_TRUE(ParseEngineOptions(R"({"dns": {"servers": ["dns.example:53"]}})", &o).ok());
  std::shared_ptr<Engine> e;
  Status st = Engine::Create(o, &e);
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "options.dns.servers: 'dns.example:53' is not an IP address with an optional port");
}

}  // namespace
}  // namespace svc
