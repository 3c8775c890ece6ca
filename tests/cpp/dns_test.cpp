// The c-ares resolver against a dnsmasq on a loopback port: Kong's record
// order, SRV expansion, TTLs, failures and their messages.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "resolve/dns.h"
#include "support/dnsmasq.h"

namespace {

using svc::Code;
using svc::Status;
using svc::resolve::Answer;
using svc::resolve::DnsOptions;
using svc::resolve::DnsResolver;
using svc::testing::DnsRecord;
using svc::testing::Dnsmasq;

// "ip port weight name" per record, in the answer's order.
std::vector<std::string> Lines(const Answer& a) {
  std::vector<std::string> out;
  for (const auto& r : a.records)
    out.push_back(r.ip + " " + std::to_string(r.port) + " " + std::to_string(r.weight) + " " + r.name);
  return out;
}

using Lines_ = std::vector<std::string>;

Status Create(DnsOptions options) {
  std::unique_ptr<DnsResolver> r;
  return DnsResolver::Create(options, &r);
}

DnsOptions WithServers(std::vector<std::string> servers) {
  DnsOptions o;
  o.servers = std::move(servers);
  return o;
}

DnsOptions WithOrder(std::vector<std::string> order) {
  DnsOptions o;
  o.servers = {"127.0.0.1"};
  o.order = std::move(order);
  return o;
}

TEST(DnsConfig, RejectsServersThatAreNotAnIpWithOptionalPort) {
  for (const char* bad : {"", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x",
                          "[127.0.0.1]:53", "[::1]53", "[::1]:", "::1]:53", "1.2.3.4:5:6", "300.0.0.1"}) {
    Status st = Create(WithServers({"127.0.0.1", bad}));
    EXPECT_EQ(st.code(), Code::invalid) << bad;
    EXPECT_EQ(st.message(), std::string("dns.servers: '") + bad + "' is not an IP address with an optional port");
  }
  for (const char* good : {"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[::1]:53", "[fe80::1]:65535"}) {
    Status st = Create(WithServers({good}));
    EXPECT_TRUE(st.ok()) << good << ": " << st.message();
  }
}

TEST(DnsConfig, RejectsUnknownOrderEntriesAndOutOfRangeLimits) {
  Status st = Create(WithOrder({"LAST", "SRV", "MX", "A"}));
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "dns.order: 'MX' is not one of LAST, SRV, A, AAAA, CNAME");
  st = Create(WithOrder({"LAST"}));
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "dns.order: names no record type (SRV, A, AAAA or CNAME)");
  st = Create(WithOrder({}));
  EXPECT_EQ(st.message(), "dns.order: names no record type (SRV, A, AAAA or CNAME)");
  EXPECT_TRUE(Create(WithOrder({"last", "Srv", "a", "aaaa", "cname"})).ok());

  DnsOptions o = WithOrder({"A"});
  o.timeout_s = 0;
  st = Create(o);
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "dns.timeout_s: must be a number greater than 0 and at most 3600: given 0");
  o.timeout_s = 1;
  o.tries = 11;
  st = Create(o);
  EXPECT_EQ(st.code(), Code::invalid);
  EXPECT_EQ(st.message(), "dns.tries: must be an integer between 1 and 10: given 11");
}

TEST(DnsConfig, IpLiteralAnswersItselfWithoutAServer) {
  std::unique_ptr<DnsResolver> r;
  DnsOptions o = WithServers({"127.0.0.1:9"});  // discard port: a query would fail
  ASSERT_TRUE(DnsResolver::Create(o, &r).ok());
  Answer a = r->Resolve("10.0.0.7");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(a.type, "A");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.7 0 0 10.0.0.7"}));
  EXPECT_EQ(a.ttl_s, 10.0 * 365 * 24 * 3600);
  a = r->Resolve("[0:0::1]");
  EXPECT_EQ(a.type, "AAAA");
  EXPECT_EQ(Lines(a), Lines_({"::1 0 0 [0:0::1]"}));
}

TEST(DnsConfig, EmptyNameIsNotFoundWithoutAQuery) {
  std::unique_ptr<DnsResolver> r;
  ASSERT_TRUE(DnsResolver::Create(WithServers({"127.0.0.1:9"}), &r).ok());
  std::vector<Answer> all = r->ResolveAll({"", "."});
  ASSERT_EQ(all.size(), 2u);
  for (const Answer& a : all) {
    EXPECT_EQ(a.kind, Answer::Kind::not_found);
    EXPECT_EQ(a.message, "dns client error: empty name");
  }
  EXPECT_TRUE(r->ResolveAll({}).empty());
}

class DnsResolve : public ::testing::Test {
 protected:
  void Serve(const std::vector<DnsRecord>& records) {
    Status st = dns_.Start(records);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void Reserve(const std::vector<DnsRecord>& records) {
    Status st = dns_.SetRecords(records);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::unique_ptr<DnsResolver> Resolver(std::vector<std::string> order = DnsOptions{}.order) {
    DnsOptions o;
    o.servers = {dns_.server()};
    o.order = std::move(order);
    o.timeout_s = 1;
    o.tries = 2;
    std::unique_ptr<DnsResolver> r;
    Status st = DnsResolver::Create(o, &r);
    EXPECT_TRUE(st.ok()) << st.message();
    return r;
  }
  Dnsmasq dns_;
};

TEST_F(DnsResolve, ARecordsSortedByAddressTextWithTheirTtl) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.2", 5),
                                 DnsRecord::Address("web.svc.test", "10.0.0.10", 5)}));
  Answer a = Resolver()->Resolve("web.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(a.type, "A");
  // Kong sorts addresses as text, so .10 comes before .2.
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.10 0 0 web.svc.test", "10.0.0.2 0 0 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 5);
  EXPECT_EQ(a.message, "");
}

TEST_F(DnsResolve, AaaaOnlyWhenListedInOrderAndCompact) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("six.svc.test", "fd00:0:0:0:0:0:0:1", 7),
                                 DnsRecord::Address("six.svc.test", "::1", 7),
                                 DnsRecord::Address("dual.svc.test", "10.0.0.1", 4),
                                 DnsRecord::Address("dual.svc.test", "::2", 4)}));
  Answer a = Resolver()->Resolve("six.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::not_found);
  EXPECT_EQ(a.message, "dns client error: 101 empty record received for 'six.svc.test' (tried SRV, A)");
  EXPECT_TRUE(a.records.empty());

  auto r = Resolver({"LAST", "SRV", "A", "AAAA"});
  a = r->Resolve("six.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(a.type, "AAAA");
  EXPECT_EQ(Lines(a), Lines_({"::1 0 0 six.svc.test", "fd00::1 0 0 six.svc.test"}));
  EXPECT_EQ(a.ttl_s, 7);
  // A comes first in the order, so a name with both answers with A.
  a = r->Resolve("dual.svc.test");
  EXPECT_EQ(a.type, "A");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 dual.svc.test"}));
  a = Resolver({"AAAA", "A"})->Resolve("dual.svc.test");
  EXPECT_EQ(a.type, "AAAA");
  EXPECT_EQ(Lines(a), Lines_({"::2 0 0 dual.svc.test"}));
}

TEST_F(DnsResolve, SrvCarriesPortsAndWeightsZeroCountingAsOne) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Srv("srv.svc.test", "web.svc.test", 8080, 10, 0, 30),
                                 DnsRecord::Srv("srv.svc.test", "api.svc.test", 9090, 10, 5, 30),
                                 DnsRecord::Srv("srv.svc.test", "api.svc.test", 9091, 10, 7, 30),
                                 DnsRecord::Address("web.svc.test", "10.0.0.1", 60),
                                 DnsRecord::Address("api.svc.test", "10.0.0.2", 60)}));
  Answer a = Resolver()->Resolve("srv.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(a.type, "SRV");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.2 9090 5 api.svc.test", "10.0.0.2 9091 7 api.svc.test",
                              "10.0.0.1 8080 1 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 30);  // the SRV TTL, below the targets' 60
}

TEST_F(DnsResolve, SrvUsesOnlyTheTopPriority) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Srv("srv.svc.test", "backup.svc.test", 7000, 20, 50, 30),
                                 DnsRecord::Srv("srv.svc.test", "main.svc.test", 8000, 5, 10, 30),
                                 DnsRecord::Srv("srv.svc.test", "spare.svc.test", 9000, 65535, 10, 30),
                                 DnsRecord::Address("backup.svc.test", "10.0.0.3", 60),
                                 DnsRecord::Address("main.svc.test", "10.0.0.4", 60),
                                 DnsRecord::Address("spare.svc.test", "10.0.0.5", 60)}));
  Answer a = Resolver()->Resolve("srv.svc.test");
  EXPECT_EQ(a.type, "SRV");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.4 8000 10 main.svc.test"}));
}

TEST_F(DnsResolve, SrvTargetsResolveToEveryAddressAndTheirTtlCounts) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Srv("srv.svc.test", "web.svc.test", 8080, 1, 3, 30),
                                 DnsRecord::Srv("srv.svc.test", "gone.svc.test", 8081, 1, 3, 30),
                                 DnsRecord::Srv("srv.svc.test", "alias.svc.test", 8082, 1, 3, 30),
                                 DnsRecord::Address("web.svc.test", "10.0.0.2", 9),
                                 DnsRecord::Address("web.svc.test", "10.0.0.1", 9),
                                 DnsRecord::Address("web.svc.test", "fd00::1", 2),
                                 DnsRecord::Address("real.svc.test", "10.0.0.3", 9),
                                 DnsRecord::Cname("alias.svc.test", "real.svc.test", 8)}));
  // Without AAAA in the order the targets' AAAA records are not asked for;
  // a target without an address (gone) is dropped.
  Answer a = Resolver()->Resolve("srv.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.3 8082 3 alias.svc.test", "10.0.0.1 8080 3 web.svc.test",
                              "10.0.0.2 8080 3 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 8);  // the CNAME on the way to alias's address
  a = Resolver({"SRV", "A", "AAAA"})->Resolve("srv.svc.test");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.3 8082 3 alias.svc.test", "10.0.0.1 8080 3 web.svc.test",
                              "10.0.0.2 8080 3 web.svc.test", "fd00::1 8080 3 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 2);  // the AAAA record of web
}

TEST_F(DnsResolve, SrvWhoseTargetsHaveNoAddressIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Srv("dead.svc.test", "gone.svc.test", 8080, 1, 1, 30),
                                 DnsRecord::Address("dead.svc.test", "10.0.0.1", 30)}));
  // SRV answered, so A is not tried for the name itself.
  Answer a = Resolver()->Resolve("dead.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::not_found);
  EXPECT_EQ(a.type, "");
  EXPECT_TRUE(a.records.empty());
  EXPECT_EQ(a.message,
            "no SRV target of 'dead.svc.test' has an address: dns server error: 3 name error for "
            "'gone.svc.test' (tried A)");
}

TEST_F(DnsResolve, CnameIsFollowedAndItsTtlCounts) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 5),
                                 DnsRecord::Cname("alias.svc.test", "web.svc.test", 2)}));
  for (auto order : {std::vector<std::string>{"LAST", "SRV", "A", "CNAME"}, std::vector<std::string>{"CNAME"}}) {
    Answer a = Resolver(order)->Resolve("alias.svc.test");
    EXPECT_EQ(a.kind, Answer::Kind::ok) << a.message;
    EXPECT_EQ(a.type, "A");
    EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 alias.svc.test"}));
    EXPECT_EQ(a.ttl_s, 2);
  }
}

TEST_F(DnsResolve, LastRemembersTheTypeThatAnsweredPerName) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("both.svc.test", "10.0.0.1", 30),
                                 DnsRecord::Address("web.svc.test", "10.0.0.2", 30)}));
  auto r = Resolver({"LAST", "SRV", "A"});
  EXPECT_EQ(r->Resolve("both.svc.test").type, "A");
  ASSERT_NO_FATAL_FAILURE(Reserve({DnsRecord::Address("both.svc.test", "10.0.0.1", 30),
                                   DnsRecord::Srv("both.svc.test", "web.svc.test", 8080, 1, 1, 30),
                                   DnsRecord::Address("web.svc.test", "10.0.0.2", 30)}));
  // A answered last time, so A is asked first (the trailing dot and case do
  // not make it another name) ...
  Answer a = r->Resolve("BOTH.svc.test.");
  EXPECT_EQ(a.type, "A");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 BOTH.svc.test"}));
  // ... while a resolver without that memory finds the SRV record first.
  a = Resolver({"LAST", "SRV", "A"})->Resolve("both.svc.test");
  EXPECT_EQ(a.type, "SRV");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.2 8080 1 web.svc.test"}));
  // Once A stops answering, SRV answers and becomes the last type.
  ASSERT_NO_FATAL_FAILURE(Reserve({DnsRecord::Srv("both.svc.test", "web.svc.test", 8080, 1, 1, 30),
                                   DnsRecord::Address("web.svc.test", "10.0.0.2", 30)}));
  EXPECT_EQ(r->Resolve("both.svc.test").type, "SRV");
  ASSERT_NO_FATAL_FAILURE(Reserve({DnsRecord::Address("both.svc.test", "10.0.0.1", 30),
                                   DnsRecord::Srv("both.svc.test", "web.svc.test", 8080, 1, 1, 30),
                                   DnsRecord::Address("web.svc.test", "10.0.0.2", 30)}));
  EXPECT_EQ(r->Resolve("both.svc.test").type, "SRV");
}

TEST_F(DnsResolve, NxdomainIsNotFoundNamingTheName) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 5)}));
  Answer a = Resolver()->Resolve("nope.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::not_found);
  EXPECT_EQ(a.type, "");
  EXPECT_TRUE(a.records.empty());
  EXPECT_EQ(a.ttl_s, 0);
  EXPECT_EQ(a.message, "dns server error: 3 name error for 'nope.svc.test' (tried SRV, A)");
}

TEST_F(DnsResolve, RefusedIsAnErrorOnceEveryTypeWasTried) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 5)}));
  // Outside svc.test this dnsmasq has no upstream to ask, so it refuses; an
  // error rcode moves on to the next type (Kong), a network error does not
  // (SilentServerTimesOut).
  Answer a = Resolver()->Resolve("elsewhere.invalid");
  EXPECT_EQ(a.kind, Answer::Kind::error);
  EXPECT_EQ(a.message, "dns server error: 5 refused for 'elsewhere.invalid' (tried SRV, A)");
}

TEST_F(DnsResolve, StoppedServerIsAnErrorUntilItIsBack) {
  const std::vector<DnsRecord> records = {DnsRecord::Address("web.svc.test", "10.0.0.1", 5)};
  ASSERT_NO_FATAL_FAILURE(Serve(records));
  auto r = Resolver();
  EXPECT_EQ(r->Resolve("web.svc.test").kind, Answer::Kind::ok);
  dns_.Stop();
  Answer a = r->Resolve("web.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::error);
  EXPECT_TRUE(a.records.empty());
  // LAST is A now, so A is the one query asked.
  EXPECT_EQ(a.message, "dns server unreachable: connection refused for 'web.svc.test' (tried A)");
  ASSERT_NO_FATAL_FAILURE(Serve(records));
  a = r->Resolve("web.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok) << a.message;
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 web.svc.test"}));
}

TEST_F(DnsResolve, NextServerAnswersWhenTheFirstIsDown) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 5)}));
  Dnsmasq down;
  ASSERT_TRUE(down.Start({}).ok());
  down.Stop();
  DnsOptions o;
  o.servers = {down.server(), dns_.server()};
  std::unique_ptr<DnsResolver> r;
  ASSERT_TRUE(DnsResolver::Create(o, &r).ok());
  Answer a = r->Resolve("web.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::ok) << a.message;
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 web.svc.test"}));
  // With several servers c-ares only tells that none of them would do.
  dns_.Stop();
  a = r->Resolve("web.svc.test");
  EXPECT_EQ(a.kind, Answer::Kind::error);
  EXPECT_EQ(a.message,
            "dns server unreachable: no server answered usefully (connection refused, server failure, refused or "
            "not implemented) for 'web.svc.test' (tried A)");
}

TEST_F(DnsResolve, SilentServerTimesOut) {
  // A bound UDP socket that never answers.
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  DnsOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(ntohs(addr.sin_port))};
  o.timeout_s = 0.1;
  o.tries = 1;
  std::unique_ptr<DnsResolver> r;
  ASSERT_TRUE(DnsResolver::Create(o, &r).ok());
  // A network error ends the lookup: A is not asked after SRV timed out.
  std::vector<Answer> all = r->ResolveAll({"a.svc.test", "b.svc.test"});
  close(fd);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, Answer::Kind::error);
  EXPECT_EQ(all[0].message, "dns server unreachable: timeout for 'a.svc.test' (tried SRV)");
  EXPECT_EQ(all[1].message, "dns server unreachable: timeout for 'b.svc.test' (tried SRV)");
}

TEST_F(DnsResolve, ChangedRecordsAreSeenOnTheNextQuery) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 1)}));
  auto r = Resolver();
  Answer a = r->Resolve("web.svc.test");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 1);
  // The resolver keeps no cache: once the TTL is the caller's business, the
  // next query sees the new records.
  ASSERT_NO_FATAL_FAILURE(Reserve({DnsRecord::Address("web.svc.test", "10.0.0.3", 2),
                                   DnsRecord::Address("web.svc.test", "10.0.0.2", 2)}));
  a = r->Resolve("web.svc.test");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.2 0 0 web.svc.test", "10.0.0.3 0 0 web.svc.test"}));
  EXPECT_EQ(a.ttl_s, 2);
}

TEST_F(DnsResolve, TrailingDotIsIgnored) {
  ASSERT_NO_FATAL_FAILURE(Serve({DnsRecord::Address("web.svc.test", "10.0.0.1", 5),
                                 DnsRecord::Srv("srv.svc.test", "web.svc.test", 80, 1, 1, 5)}));
  auto r = Resolver();
  Answer a = r->Resolve("web.svc.test.");
  EXPECT_EQ(a.kind, Answer::Kind::ok);
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 0 0 web.svc.test"}));
  a = r->Resolve("srv.svc.test.");
  EXPECT_EQ(Lines(a), Lines_({"10.0.0.1 80 1 web.svc.test"}));
  a = r->Resolve("nope.svc.test.");
  EXPECT_EQ(a.message, "dns server error: 3 name error for 'nope.svc.test' (tried SRV, A)");
}

TEST_F(DnsResolve, ResolveAllAnswersTwoHundredNamesInOneCall) {
  std::vector<DnsRecord> records;
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) {
    names.push_back("n" + std::to_string(i) + ".svc.test");
    records.push_back(DnsRecord::Address(names.back(), "10.1." + std::to_string(i / 100) + "." +
                                                          std::to_string(i % 100), 10 + i % 7));
  }
  names.push_back("missing.svc.test");
  ASSERT_NO_FATAL_FAILURE(Serve(records));
  // One try: a reply dropped by an overflowing UDP receive buffer (too many
  // queries on the wire at once) would show as a timeout, not a retry.
  DnsOptions o;
  o.servers = {dns_.server()};
  o.timeout_s = 2;
  o.tries = 1;
  std::unique_ptr<DnsResolver> r;
  ASSERT_TRUE(DnsResolver::Create(o, &r).ok());
  std::vector<Answer> all = r->ResolveAll(names);
  ASSERT_EQ(all.size(), 201u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(all[i].kind, Answer::Kind::ok) << all[i].message;
    EXPECT_EQ(Lines(all[i]), Lines_({"10.1." + std::to_string(i / 100) + "." + std::to_string(i % 100) + " 0 0 " +
                                     names[i]}));
    EXPECT_EQ(all[i].ttl_s, 10 + i % 7);
  }
  EXPECT_EQ(all[200].kind, Answer::Kind::not_found);
  // Two callers at once are served one after the other, each in full.
  std::vector<Answer> other;
  std::thread t([&] { other = r->ResolveAll(names); });
  all = r->ResolveAll(names);
  t.join();
  ASSERT_EQ(other.size(), 201u);
  for (size_t i = 0; i < 200; ++i) {
    EXPECT_EQ(all[i].type, "A");
    EXPECT_EQ(Lines(other[i]), Lines(all[i]));
  }
}

}  // namespace
