// Security checks against real TLS backends and hostile loopback servers:
// a connection (or a TLS session) made under one TLS policy never serves a
// request with another (verification, depth, trust store, client
// certificate, SNI and verified name); header injection is rejected before
// a byte is sent; hostile or huge responses stop at the engine's limits and
// bytes after a response never reach the next request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
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

std::string Header(const http::Response& r, const char* name) {
  for (const auto& [n, v] : r.headers)
    if (strcasecmp(n.c_str(), name) == 0) return v;
  return "";
}

// A loopback server that runs `handler` on each accepted connection, one
// at a time, in its own thread. Reads time out after 10 s so a client that
// never closes cannot hang the test.
class ScriptedServer {
 public:
  using Handler = std::function<void(int fd, int connection)>;
  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (int n = 1;; ++n) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        timeval tv{10, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        connections_ = n;
        handler_(c, n);
        close(c);
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  int connections() const { return connections_; }

  // Reads one request head; false on EOF or error.
  static bool ReadRequest(int fd) {
    std::string head;
    char c;
    while (head.size() < 65536) {
      if (recv(fd, &c, 1, 0) != 1) return false;
      head += c;
      if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) return true;
    }
    return false;
  }
  static bool SendAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Until the client closes (or the read times out).
  static void Drain(int fd) {
    char buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }

 private:
  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// What a request is made under: its route and TLS settings.
using Policy = std::function<Status(Request&)>;

class Security : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::GenerateTempPki("svc-security", &pki_).ok());
  }
  static std::string Pem(const std::string& name) { return testing::ReadPkiFile(pki_, name); }
  static std::vector<std::string> Tls(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--tls", pki_ + "/server-chain.pem," + pki_ + "/server.key"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  static std::shared_ptr<const tls::TrustStore> Store(const std::string& file) {
    std::shared_ptr<tls::TrustStore> store;
    EXPECT_TRUE(tls::TrustStore::New(&store).ok());
    EXPECT_TRUE(store->AddPem(Pem(file)).ok());
    return store;
  }

  // pooling: the default keepalive pool; otherwise pool_size 0, so a later
  // connection can only share a TLS session with an earlier one.
  static std::shared_ptr<Engine> NewEngine(bool pooling, EngineOptions options = {}) {
    if (!pooling) options.pool_size = 0;
    std::shared_ptr<Engine> e;
    EXPECT_TRUE(Engine::Create(options, &e).ok());
    return e;
  }

  static Status Get(const std::shared_ptr<Engine>& e, const Policy& policy, http::Response* res,
                    const std::string& path = "/") {
    Request r(e);
    SVC_TRY(r.SetRetries(0));
    SVC_TRY(r.SetTimeouts(2000, 5000, 5000));
    SVC_TRY(r.SetScheme("https"));
    SVC_TRY(policy(r));
    return r.Send("GET", path, {}, "", res);
  }

  // `good` works and `bad` fails with `code` and `message`, however the two
  // are interleaved, on an engine that pools connections and on one that
  // can only resume TLS sessions: `bad` never gets what `good` made.
  void ExpectNoCrossing(const Policy& good, const Policy& bad, Code code, const std::string& message) {
    {
      auto e = NewEngine(true);
      http::Response res;
      Status st = Get(e, good, &res);
      ASSERT_TRUE(st.ok()) << st.message();
      const std::string first = Header(res, "X-Connection");
      st = Get(e, bad, &res);
      EXPECT_EQ(st.code(), code);
      EXPECT_EQ(st.message(), message);
      st = Get(e, good, &res);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_EQ(Header(res, "X-Connection"), first);  // the pool works: `bad` was refused it
      EXPECT_EQ(Header(res, "X-Request"), "2");
      st = Get(e, bad, &res);
      EXPECT_EQ(st.message(), message);
    }
    {
      auto e = NewEngine(false);
      http::Response res;
      ASSERT_TRUE(Get(e, good, &res).ok());
      EXPECT_EQ(Header(res, "X-TLS-Resumed"), "0");
      ASSERT_TRUE(Get(e, good, &res).ok());
      EXPECT_EQ(Header(res, "X-TLS-Resumed"), "1");  // sessions are cached: `bad` could resume one
      Status st = Get(e, bad, &res);
      EXPECT_EQ(st.code(), code);
      EXPECT_EQ(st.message(), message);
    }
  }

  static Policy To(const Backend& b, std::function<Status(Request&)> tls) {
    const int port = b.port();
    return [port, tls](Request& r) {
      SVC_TRY(r.SetTarget("127.0.0.1", port));
      return tls(r);
    };
  }
  static std::string Failed(const Backend& b, const std::string& what) {
    return "1 try failed: try 1 (" + b.target() + "): " + what;
  }

  static inline std::string pki_;
};

TEST_F(Security, VerifyOffConnectionsAndSessionsNeverServeVerifyOn) {
  Backend b(Tls());
  ASSERT_GT(b.port(), 0);
  // The engine trusts the system's CAs only: verification must fail.
  ExpectNoCrossing(To(b, [](Request& r) { return r.SetTlsVerify(false); }),
                   To(b, [](Request& r) { return r.SetTlsVerify(true); }), Code::tls,
                   Failed(b, "TLS handshake with " + b.target() +
                                 " failed: certificate verify failed: unable to get local issuer certificate"));
}

TEST_F(Security, VerifyDepthIsPartOfThePolicy) {
  Backend b(Tls());
  ASSERT_GT(b.port(), 0);
  auto store = Store("ca.pem");
  // leaf <- intermediate <- root: depth 0 allows no intermediate.
  ExpectNoCrossing(To(b, [store](Request& r) { return r.SetTlsVerifyStore(store); }),
                   To(b,
                      [store](Request& r) {
                        SVC_TRY(r.SetTlsVerifyStore(store));
                        return r.SetTlsVerifyDepth(0);
                      }),
                   Code::tls,
                   Failed(b, "TLS handshake with " + b.target() +
                                 " failed: certificate verify failed: certificate chain too long"));
}

TEST_F(Security, TrustStoreIsPartOfThePolicy) {
  Backend b(Tls());
  ASSERT_GT(b.port(), 0);
  auto good = Store("ca.pem");
  auto other = Store("other-ca.pem");
  const std::string refused =
      Failed(b, "TLS handshake with " + b.target() +
                    " failed: certificate verify failed: unable to get local issuer certificate");
  ExpectNoCrossing(To(b, [good](Request& r) { return r.SetTlsVerifyStore(good); }),
                   To(b, [other](Request& r) { return r.SetTlsVerifyStore(other); }), Code::tls, refused);

  // A store is its own identity, whatever it holds; and a freed store's
  // connections never go to the store made after it.
  auto e = NewEngine(true);
  http::Response res;
  ASSERT_TRUE(Get(e, To(b, [good](Request& r) { return r.SetTlsVerifyStore(good); }), &res).ok());
  const std::string first = Header(res, "X-Connection");
  auto same = Store("ca.pem");
  ASSERT_TRUE(Get(e, To(b, [same](Request& r) { return r.SetTlsVerifyStore(same); }), &res).ok());
  EXPECT_NE(Header(res, "X-Connection"), first);
  EXPECT_EQ(e->pool().idle_total(), 2u);
  good.reset();
  same.reset();
  auto later = Store("other-ca.pem");
  Status st = Get(e, To(b, [later](Request& r) { return r.SetTlsVerifyStore(later); }), &res);
  EXPECT_EQ(st.message(), refused);
}

TEST_F(Security, ClientCertificateNeverLeaksToAnotherRequest) {
  Backend b(Tls({"--client-ca", pki_ + "/ca.pem"}));
  ASSERT_GT(b.port(), 0);
  std::shared_ptr<const tls::CertChain> chain;
  std::shared_ptr<const tls::PrivateKey> key;
  ASSERT_TRUE(tls::CertChain::ParsePem(Pem("client.pem"), &chain).ok());
  ASSERT_TRUE(tls::PrivateKey::ParsePem(Pem("client.key"), nullptr, &key).ok());
  auto with_cert = To(b, [chain, key](Request& r) {
    SVC_TRY(r.SetTlsVerify(false));
    return r.SetTlsCertKey(chain, key);
  });
  auto without = To(b, [](Request& r) { return r.SetTlsVerify(false); });
  // TLS 1.3: the server's refusal arrives as an alert on the first read.
  ExpectNoCrossing(with_cert, without, Code::tls,
                   Failed(b, "read from " + b.target() + " failed: tlsv13 alert certificate required"));

  // A connection leased in connect mode goes back to the pool under its
  // policy as well: only a request with the certificate gets it again.
  auto e = NewEngine(true);
  {
    Request r(e);
    ASSERT_TRUE(r.SetScheme("https").ok());
    ASSERT_TRUE(with_cert(r).ok());
    std::unique_ptr<Lease> lease;
    ASSERT_TRUE(r.Connect(&lease).ok());
    const std::string ask = "GET /status/204 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ASSERT_TRUE(lease->Write(ask.data(), ask.size()).ok());
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char buf[512];
      size_t got = 0;
      ASSERT_TRUE(lease->Read(buf, sizeof buf, &got).ok());
      ASSERT_GT(got, 0u);
      head.append(buf, got);
    }
    EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 204");
    EXPECT_NE(head.find("X-Client-Subject: /O=svc test/CN=svc test client\r\n"), std::string::npos) << head;
    lease->Release(true);
  }
  EXPECT_EQ(e->pool().idle_total(), 1u);
  http::Response res;
  Status st = Get(e, without, &res);
  EXPECT_EQ(st.message(), Failed(b, "read from " + b.target() + " failed: tlsv13 alert certificate required"));
  ASSERT_TRUE(Get(e, with_cert, &res).ok());
  EXPECT_EQ(Header(res, "X-Request"), "2");  // the leased connection, second request
  EXPECT_EQ(Header(res, "X-Client-Subject"), "/O=svc test/CN=svc test client");
}

TEST_F(Security, ConcurrentRequestsWithAndWithoutACertificateNeverShareConnections) {
  Backend b(Tls({"--client-ca", pki_ + "/ca.pem"}));
  ASSERT_GT(b.port(), 0);
  std::shared_ptr<const tls::CertChain> chain;
  std::shared_ptr<const tls::PrivateKey> key;
  ASSERT_TRUE(tls::CertChain::ParsePem(Pem("client.pem"), &chain).ok());
  ASSERT_TRUE(tls::PrivateKey::ParsePem(Pem("client.key"), nullptr, &key).ok());
  auto e = NewEngine(true);
  const std::string refused = Failed(b, "read from " + b.target() + " failed: tlsv13 alert certificate required");
  constexpr int kThreads = 4, kEach = 100;
  std::atomic<int> ok{0}, refusals{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const bool cert = (t + i) % 2 == 0;
        http::Response res;
        Status st = Get(e, To(b, [&](Request& r) {
                          SVC_TRY(r.SetTlsVerify(false));
                          return cert ? r.SetTlsCertKey(chain, key) : Status::Ok();
                        }),
                        &res);
        if (cert) {
          EXPECT_TRUE(st.ok()) << st.message();
          EXPECT_EQ(Header(res, "X-Client-Subject"), "/O=svc test/CN=svc test client");
          ++ok;
        } else {
          EXPECT_EQ(st.message(), refused);
          ++refusals;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach / 2);
  EXPECT_EQ(refusals.load(), kThreads * kEach / 2);
}

TEST_F(Security, SniAndVerifiedNameNeverCrossRequests) {
  auto store = Store("ca.pem");
  for (bool pooling : {true, false}) {
    SCOPED_TRACE(pooling ? "pooling" : "sessions only");
    Backend b(Tls());  // numbers its connections from 1
    ASSERT_GT(b.port(), 0);
    auto e = NewEngine(pooling);
    // One address, three names: each upstream's host_header is its SNI and
    // the name its certificate is verified against.
    for (const char* name : {"localhost", "backend.test", "other.test"}) {
      ASSERT_TRUE(e->UpsertUpstream(json{{"name", name}, {"host_header", name}}.dump()).ok());
      ASSERT_TRUE(e->AddTarget(name, b.target(), 100).ok());
    }
    ASSERT_TRUE(e->UpsertUpstream(R"({"name": "ip"})").ok());
    ASSERT_TRUE(e->AddTarget("ip", b.target(), 100).ok());
    auto via = [store](const char* upstream) {
      return [store, upstream](Request& r) {
        SVC_TRY(r.SetUpstream(upstream));
        return r.SetTlsVerifyStore(store);
      };
    };
    http::Response res;
    // "connection/request/resumed" of each answer.
    std::vector<std::string> seen;
    for (const char* name : {"localhost", "backend.test", "ip", "localhost", "backend.test", "ip"}) {
      Status st = Get(e, via(name), &res);
      ASSERT_TRUE(st.ok()) << name << ": " << st.message();
      const bool ip = std::string(name) == "ip";
      EXPECT_EQ(Header(res, "X-SNI"), ip ? "" : name);  // no SNI for an IP
      EXPECT_EQ(json::parse(res.body)["headers"]["host"], (ip ? "127.0.0.1" : name) + std::string(":") +
                                                              std::to_string(b.port()));
      seen.push_back(Header(res, "X-Connection") + "/" + Header(res, "X-Request") + "/" +
                     Header(res, "X-TLS-Resumed"));
      // Whatever was made before, the wrong name is refused (a new
      // connection each time, which the backend numbers too).
      st = Get(e, via("other.test"), &res);
      EXPECT_EQ(st.code(), Code::tls);
      EXPECT_EQ(st.message(), Failed(b, "TLS handshake with " + b.target() +
                                            " failed: certificate verify failed: certificate does not match "
                                            "'other.test' (it is for DNS:localhost, DNS:backend.test, "
                                            "IP:127.0.0.1, IP:::1)"));
    }
    if (pooling) {
      // Each name has its own connection, reused by that name only.
      EXPECT_EQ(seen, (std::vector<std::string>{"1/1/0", "3/1/0", "5/1/0", "1/2/0", "3/2/0", "5/2/0"}));
    } else {
      // A new connection each time; the second of each name resumes that
      // name's session.
      EXPECT_EQ(seen, (std::vector<std::string>{"1/1/0", "3/1/0", "5/1/0", "7/1/1", "9/1/1", "11/1/1"}));
    }
  }
}

TEST_F(Security, HeaderInjectionIsRejectedBeforeAnythingIsSent) {
  Backend b({"--name", "plain"});
  ASSERT_GT(b.port(), 0);
  auto e = NewEngine(true);
  struct Case {
    std::string method, path;
    http::Fields headers;
    std::string message;
  } cases[] = {
      {"GET", "/", {{"X-A", "b\r\nX-Evil: 1"}}, "header 'X-A: b\r\nX-Evil: 1' contains CR, LF or NUL"},
      {"GET", "/", {{"X-A", "b\nX-Evil: 1"}}, "header 'X-A: b\nX-Evil: 1' contains CR, LF or NUL"},
      {"GET", "/", {{"X-A", std::string("b\0c", 3)}},
       std::string("header 'X-A: b") + '\0' + "c' contains CR, LF or NUL"},
      {"GET", "/", {{"Host", "a\r\nX-Evil: 1"}}, "header 'Host: a\r\nX-Evil: 1' contains CR, LF or NUL"},
      {"GET", "/", {{"X-Evil: 1\r\nX-A", "b"}}, "header name 'X-Evil: 1\r\nX-A' is not an HTTP token"},
      {"GET", "/", {{"Bad Name", "b"}}, "header name 'Bad Name' is not an HTTP token"},
      {"GET", "/", {{"", "b"}}, "header name '' is not an HTTP token"},
      {"GET / HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET", "/", {},
       "method must be an HTTP token: given 'GET / HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET'"},
      {std::string("GET\0", 4), "/", {}, std::string("method must be an HTTP token: given 'GET") + '\0' + "'"},
      {"GET", "/x HTTP/1.1\r\nX-Evil: 1", {},
       "path must start with '/' and hold no spaces or line breaks: given '/x HTTP/1.1\r\nX-Evil: 1'"},
      {"GET", "/x\rX-Evil: 1", {},
       "path must start with '/' and hold no spaces or line breaks: given '/x\rX-Evil: 1'"},
  };
  for (const Case& c : cases) {
    Request r(e);
    ASSERT_TRUE(r.SetTarget("127.0.0.1", b.port()).ok());
    http::Response res;
    Status st = r.Send(c.method, c.path, c.headers, "", &res);
    EXPECT_EQ(st.code(), Code::invalid) << c.message;
    EXPECT_EQ(st.message(), c.message);
    EXPECT_EQ(r.tries(), 0) << c.message;
  }
  // An upstream's host_header becomes the Host header: it must be a host.
  Status st = e->UpsertUpstream(json{{"name", "u"}, {"host_header", "a\r\nX-Evil: 1"}}.dump());
  EXPECT_EQ(st.code(), Code::config);
  EXPECT_EQ(st.message(), "host_header: invalid hostname: a\r\nX-Evil: 1");
  // The backend never saw a request: this one is its first.
  Request r(e);
  ASSERT_TRUE(r.SetTarget("127.0.0.1", b.port()).ok());
  http::Response res;
  ASSERT_TRUE(r.Send("GET", "/_admin/info", {}, "", &res).ok());
  EXPECT_EQ(json::parse(res.body)["admin"]["connections"], 1);
  EXPECT_EQ(json::parse(res.body)["admin"]["last"], nullptr);
}

// The engine's limits for the hostile-response cases.
EngineOptions Limits() {
  EngineOptions o;
  o.max_header_bytes = 1024;
  o.max_body_bytes = 4096;
  return o;
}

TEST_F(Security, HostileResponsesStopAtTheLimits) {
  struct Case {
    std::string name, head, endless, message;  // endless: repeated after head until the client leaves
  } cases[] = {
      {"endless header line", "HTTP/1.1 200 OK\r\nX-A: ", std::string(4096, 'a'),
       "response header from {peer} exceeds 1024 bytes"},
      {"endless header fields", "HTTP/1.1 200 OK\r\n", "X-A: b\r\n", "response header from {peer} exceeds 1024 bytes"},
      {"endless status line", "HTTP/1.1 200 ", std::string(4096, 'O'),
       "response header from {peer} exceeds 1024 bytes"},
      {"endless chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
       "400\r\n" + std::string(1024, 'x') + "\r\n", "response body from {peer} exceeds 4096 bytes"},
      {"endless body until close", "HTTP/1.1 200 OK\r\n\r\n", std::string(4096, 'x'),
       "response body from {peer} exceeds 4096 bytes"},
      {"huge declared length", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", std::string(4096, 'x'),
       "response body from {peer} exceeds 4096 bytes"},
      {"length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "",
       "bad response from {peer}: bad Content-Length"},
      {"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", "",
       "bad response from {peer}: bad chunk"},
      {"NUL in a header", std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n", 48), "",
       "bad response from {peer}: bad value"},
      {"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok", "",
       "bad response from {peer}: bad Content-Length"},
      {"length and chunked",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "",
       "bad response from {peer}: bad Transfer-Encoding"},
  };
  auto e = NewEngine(true, Limits());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::atomic<bool> client_left{false};
    auto server = std::make_unique<ScriptedServer>([&](int fd, int) {
      if (!ScriptedServer::ReadRequest(fd) || !ScriptedServer::SendAll(fd, c.head)) return;
      if (c.endless.empty()) return ScriptedServer::Drain(fd);
      while (ScriptedServer::SendAll(fd, c.endless)) {
      }
      client_left = true;  // a send failed: the client closed the connection
    });
    const std::string peer = server->target();
    Request r(e);
    ASSERT_TRUE(r.SetTarget("127.0.0.1", server->port()).ok());
    ASSERT_TRUE(r.SetRetries(2).ok());
    http::Response res;
    Status st = r.Send("GET", "/", {}, "", &res);
    std::string want = c.message;
    want.replace(want.find("{peer}"), 6, peer);
    EXPECT_EQ(st.code(), Code::proto);
    EXPECT_EQ(st.message(), "1 try failed: try 1 (" + peer + "): " + want);
    EXPECT_EQ(r.tries(), 1);  // a response had started: never retried
    EXPECT_EQ(e->pool().idle_total(), 0u);
    server.reset();  // its handler returned: the client left, or did not need to
    EXPECT_EQ(client_left.load(), !c.endless.empty());
  }
}

TEST_F(Security, BytesAfterAResponseNeverReachTheNextRequest) {
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL";
  {
    // A second response in the same write as the first.
    ScriptedServer server([&](int fd, int) {
      while (ScriptedServer::ReadRequest(fd))
        if (!ScriptedServer::SendAll(fd, ok + evil)) return;
    });
    auto e = NewEngine(true);
    for (int i = 0; i < 3; ++i) {
      Request r(e);
      ASSERT_TRUE(r.SetTarget("127.0.0.1", server.port()).ok());
      http::Response res;
      ASSERT_TRUE(r.Send("GET", "/", {}, "", &res).ok());
      EXPECT_EQ(res.body, "ok");
      EXPECT_EQ(server.connections(), i + 1);  // never pooled
    }
  }
  {
    // A second response sent while the connection sits idle in the pool.
    std::mutex mu;
    std::condition_variable cv;
    int step = 0;  // 1: the test let the server go on; 2: the extra bytes are out
    ScriptedServer server([&](int fd, int n) {
      if (!ScriptedServer::ReadRequest(fd) || !ScriptedServer::SendAll(fd, ok)) return;
      if (n == 1) {
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, 10s, [&] { return step == 1; })) return;
        ScriptedServer::SendAll(fd, evil);
        step = 2;
        cv.notify_all();
      }
      ScriptedServer::Drain(fd);
    });
    auto e = NewEngine(true);
    auto get = [&](http::Response* res) {
      Request r(e);
      EXPECT_TRUE(r.SetTarget("127.0.0.1", server.port()).ok());
      return r.Send("GET", "/", {}, "", res);
    };
    http::Response res;
    ASSERT_TRUE(get(&res).ok());
    EXPECT_EQ(e->pool().idle_total(), 1u);
    {
      std::unique_lock<std::mutex> lock(mu);
      step = 1;
      cv.notify_all();
      ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return step == 2; }));
    }
    ASSERT_TRUE(get(&res).ok());
    EXPECT_EQ(res.body, "ok");
    EXPECT_EQ(server.connections(), 2);
  }
}

}  // namespace
}  // namespace svc
