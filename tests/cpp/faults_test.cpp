// Faults under load: three TLS backends, 4 threads sending 20 000 GETs
// (retries 2) through send mode while one backend is killed and restarted
// (a), answers 500s (b), stops accepting (c), or while targets and the
// whole configuration change every 50 ms (d). Two request populations with
// different TLS policies share the engine, and no backend connection may
// ever serve both. Each scenario prints one line for RELIABILITY.md:
//   FAULTS scenario=<a|b|c|d> sent=N ok=N failed=N retried=N transitions=N
// (ok: 2xx responses; (b) also prints its 500s on a FAULTS-DETAIL line).
// The fault is injected at fixed request counts and the load is held at
// gates until the engine reported the transition the scenario waits for,
// so every count below is exact or bounded by the schedule, never by time.
#include <signal.h>
#include <stdlib.h>
#include <strings.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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

constexpr int kThreads = 4;
constexpr int kRequests = 20000;
constexpr int kRetries = 2;
constexpr int kConnectMs = 500;  // also bounds the TLS handshake
constexpr int kIoMs = 5000;
constexpr auto kWait = 60s;  // bound of every wait on a condition

std::string Header(const http::Response& r, const char* name) {
  for (const auto& [n, v] : r.headers)
    if (strcasecmp(n.c_str(), name) == 0) return v;
  return "";
}

// What one request of the load did.
struct Outcome {
  Status status;
  int http_status = 0;
  std::string backend;     // X-Backend
  std::string connection;  // X-Connection: the backend's serial of the connection
  std::vector<int> ports;  // the peer port of every try, in order
};

// Runs `total` requests on `threads` threads. Request i starts only once
// the controller allowed it (AllowUpTo(n) lets every i < n start), so a test
// can hold the load at a point, change the world, and let it go on.
class Load {
 public:
  using Fn = std::function<void(int index, Outcome* out)>;
  Load(int total, int threads, Fn fn) : total_(total), outcomes_(total), fn_(std::move(fn)) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { Work(); });
  }
  ~Load() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_ = true;
    }
    cv_.notify_all();
    Join();
  }

  void AllowUpTo(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    allowed_ = std::min(n, total_);
    cv_.notify_all();
  }
  // Requests started so far: the index the next one will get.
  int Started() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_;
  }
  bool WaitStarted(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return next_ >= n; });
  }
  // Until every allowed request finished: nothing is in flight.
  bool WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return running_ == 0 && next_ >= allowed_; });
  }
  void Join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  const std::vector<Outcome>& outcomes() const { return outcomes_; }

 private:
  void Work() {
    for (;;) {
      int i;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return abort_ || next_ >= total_ || next_ < allowed_; });
        if (abort_ || next_ >= total_) return;
        i = next_++;
        ++running_;
        cv_.notify_all();
      }
      fn_(i, &outcomes_[i]);
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      cv_.notify_all();
    }
  }

  const int total_;
  std::vector<Outcome> outcomes_;
  Fn fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  int allowed_ = 0, next_ = 0, running_ = 0;
  bool abort_ = false;
  std::vector<std::thread> threads_;
};

// Health events as "UNHEALTHY ip:port", each with the number of requests
// started when it was delivered: a request with a larger index was picked
// after the balancer had applied the change.
struct Event {
  std::string text;
  int started;
};

class Faults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::GenerateTempPki("svc-faults", &pki_).ok());
  }

  void SetUp() override {
    for (auto* b : {&b1_, &b2_, &b3_}) ASSERT_GT((*b)->port(), 0);
    EngineOptions options;
    options.io_threads = 1;
    ASSERT_TRUE(Engine::Create(options, &engine_).ok());
    engine_->OnHealth([this](const std::string&, const std::string&, const std::string& address, bool healthy) {
      Load* load = active_load_.load();
      const int started = load ? load->Started() : -1;
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back({std::string(healthy ? "HEALTHY " : "UNHEALTHY ") + address, started});
      cv_.notify_all();
    });
    std::shared_ptr<tls::TrustStore> store;
    ASSERT_TRUE(tls::TrustStore::New(&store).ok());
    ASSERT_TRUE(store->AddPem(Pem("ca.pem")).ok());
    // OpenSSL caches a certificate's extensions on its first verification,
    // published by an atomic flag TSan cannot see in the uninstrumented
    // libcrypto: cache the CA's now, before the load's threads share it.
    STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(store->Freeze());
    for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i)
      if (X509* ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i))) X509_check_purpose(ca, -1, 0);
    store_ = store;
  }
  void TearDown() override {
    // No callback runs once the engine is shut down: then the load may go.
    if (engine_) engine_->Shutdown();
    active_load_ = nullptr;
    load_.reset();
  }

  static std::vector<std::string> Args(const std::string& name, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--name", name, "--body", "ok", "--tls",
                                     pki_ + "/server-chain.pem," + pki_ + "/server.key"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  static std::string Pem(const std::string& name) { return testing::ReadPkiFile(pki_, name); }

  // Passive health as the issue asks: one TCP failure or one timeout ejects,
  // three 500s eject. `active` is added to the healthchecks tree.
  static json Healthchecks(json active = json()) {
    json unhealthy = {{"tcp_failures", 1}, {"http_failures", 3}, {"timeouts", 1}, {"http_statuses", {500}}};
    json hc = {{"passive", {{"unhealthy", unhealthy}}}};
    if (!active.is_null()) hc["active"] = active;
    return hc;
  }
  void Upstream(const json& healthchecks, const std::vector<std::string>& targets) {
    json u = {{"name", "u"}, {"healthchecks", healthchecks}};
    Status st = engine_->UpsertUpstream(u.dump());
    ASSERT_TRUE(st.ok()) << st.message();
    for (const auto& t : targets) ASSERT_TRUE(engine_->AddTarget("u", t, 100).ok());
  }

  // One GET of the load. Even requests verify the backend against the test
  // CA (a store of their own), odd ones do not verify: two TLS policies.
  void Send(int index, Outcome* out) {
    Request r(engine_);
    Status st = r.SetUpstream("u");
    if (st.ok()) st = r.SetRetries(kRetries);
    if (st.ok()) st = r.SetTimeouts(kConnectMs, kIoMs, kIoMs);
    if (st.ok()) st = r.SetScheme("https");
    if (st.ok()) st = index % 2 == 0 ? r.SetTlsVerifyStore(store_) : r.SetTlsVerify(false);
    if (!st.ok()) {
      out->status = st;
      return;
    }
    r.SetBalancerCallback([&r, out] {
      out->ports.push_back(r.peer_port());
      return Status::Ok();
    });
    http::Response res;
    out->status = r.Send("GET", "/", {}, "", &res);
    if (!out->status.ok()) return;
    out->http_status = res.status;
    out->backend = Header(res, "X-Backend");
    out->connection = Header(res, "X-Connection");
  }
  void StartLoad(int allowed) {
    load_ = std::make_unique<Load>(kRequests, kThreads, [this](int i, Outcome* o) { Send(i, o); });
    load_->AllowUpTo(allowed);
    active_load_ = load_.get();
  }

  // A GET to one backend with an explicit target, no retry, no verification.
  Status Direct(int port, const std::string& path, http::Response* res) {
    Request r(engine_);
    SVC_TRY(r.SetTarget("127.0.0.1", port));
    SVC_TRY(r.SetRetries(0));
    SVC_TRY(r.SetTimeouts(kConnectMs, kIoMs, kIoMs));
    SVC_TRY(r.SetScheme("https"));
    SVC_TRY(r.SetTlsVerify(false));
    return r.Send("GET", path, {}, "", res);
  }

  // Waits for the health event `text`; its record, or started -1 after kWait.
  Event WaitEvent(const std::string& text) {
    std::unique_lock<std::mutex> lock(mu_);
    Event found{text, -1};
    cv_.wait_for(lock, kWait, [&] {
      for (const auto& e : events_)
        if (e.text == text) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.text);
    return out;
  }

  // Log lines that contain any of `parts`, in the engine's order.
  void RecordLog(std::vector<std::string> parts) {
    engine_->OnLog([this, parts](int, const std::string& message) {
      for (const auto& p : parts)
        if (message.find(p) != std::string::npos) {
          std::lock_guard<std::mutex> lock(mu_);
          log_.push_back(message);
          return;
        }
    });
  }
  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

  std::string AddressHealth(const std::string& address) { return testing::AddressHealth(*engine_, "u", address); }

  // Every retried request of the load met `port` (backend `name`) first and
  // went on to another backend, was started in [first, ejected) and tried
  // twice; no request started in [ejected, back) tried `port` at all.
  void ExpectRetriedAwayFrom(int port, const std::string& name, int first, int ejected, int back) {
    const auto& outcomes = load_->outcomes();
    for (int i = 0; i < kRequests; ++i) {
      const auto& ports = outcomes[i].ports;
      if (ports.size() > 1) {
        EXPECT_EQ(ports.size(), 2u) << "request " << i;
        EXPECT_EQ(ports[0], port) << "request " << i;
        EXPECT_NE(ports[1], port) << "request " << i;
        EXPECT_GE(i, first) << "request " << i;
        EXPECT_LT(i, ejected) << "request " << i;
      }
      if (i >= ejected && i < back)
        EXPECT_EQ(std::count(ports.begin(), ports.end(), port), 0) << "request " << i << " tried the ejected " << name;
    }
  }

  // The figures every scenario reports, and the checks every scenario makes:
  // counts add up, failures are listed, and no backend connection served
  // both TLS policies.
  struct Totals {
    int sent = 0, ok = 0, failed = 0, retried = 0, status500 = 0;
    std::map<std::string, int> by_backend;  // 2xx and 500 responses
  };
  Totals Check(const std::vector<Outcome>& outcomes) {
    Totals t;
    std::map<std::string, int> policies;  // "backend#connection" -> bit per population
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& o = outcomes[i];
      ++t.sent;
      if (o.ports.size() > 1) ++t.retried;
      if (!o.status.ok()) {
        ++t.failed;
        ADD_FAILURE() << "request " << i << " failed: " << o.status.message();
        continue;
      }
      EXPECT_GE(o.ports.size(), 1u) << "request " << i;
      if (o.http_status == 500) {
        ++t.status500;
      } else {
        EXPECT_EQ(o.http_status, 200) << "request " << i;
        ++t.ok;
      }
      ++t.by_backend[o.backend];
      policies[o.backend + "#" + o.connection] |= 1 << (i % 2);
    }
    EXPECT_EQ(t.ok + t.failed + t.status500, t.sent);
    int responses = 0;
    for (const auto& [b, n] : t.by_backend) responses += n;
    EXPECT_EQ(responses, t.ok + t.status500);
    for (const auto& [conn, bits] : policies)
      EXPECT_NE(bits, 3) << "connection " << conn << " served both TLS policies";
    return t;
  }
  // The backend's own count of the requests it read: the load's answers
  // from it, `extra` direct ones, and the info request that asks. Nothing
  // lost, nothing sent twice.
  void ExpectServed(const Backend& b, int by_load, int extra = 0) {
    http::Response res;
    Status st = Direct(b.port(), "/_admin/info", &res);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(json::parse(res.body)["admin"]["requests"], by_load + extra + 1) << b.target();
  }
  void Print(char scenario, const Totals& t) {
    std::printf("FAULTS scenario=%c sent=%d ok=%d failed=%d retried=%d transitions=%zu\n", scenario, t.sent, t.ok,
                t.failed, t.retried, Events().size());
    std::fflush(stdout);
  }

  static inline std::string pki_;
  std::unique_ptr<Backend> b1_ = std::make_unique<Backend>(Args("b1"));
  std::unique_ptr<Backend> b2_ = std::make_unique<Backend>(Args("b2"));
  std::unique_ptr<Backend> b3_ = std::make_unique<Backend>(Args("b3"));
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<const tls::TrustStore> store_;
  std::unique_ptr<Load> load_;
  std::atomic<Load*> active_load_{nullptr};  // what the health callback reads
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::vector<std::string> log_;
};

// (a) b1 is killed after 5 000 requests and restarted on its port once the
// balancer ejected it; a tcp probe of the unhealthy lane brings it back.
TEST_F(Faults, KilledBackendIsRoutedAroundAndReturnsAfterRestart) {
  const int port = b1_->port();
  const std::string t1 = b1_->target();
  Upstream(Healthchecks({{"type", "tcp"},
                         {"timeout", 0.5},
                         {"healthy", {{"interval", 0}, {"successes", 1}}},
                         {"unhealthy", {{"interval", 0.05}}}}),
           {t1, b2_->target(), b3_->target()});
  StartLoad(15000);
  ASSERT_TRUE(load_->WaitStarted(5000));
  b1_->Signal(SIGKILL);
  b1_->Stop();
  const Event down = WaitEvent("UNHEALTHY " + t1);
  ASSERT_GE(down.started, 5000);

  // What a caller sees from the dead port itself.
  http::Response res;
  Status st = Direct(port, "/", &res);
  EXPECT_EQ(st.code(), Code::connect);
  EXPECT_EQ(st.message(), "1 try failed: try 1 (" + t1 + "): connect to " + t1 + " failed: Connection refused");

  const int restarted_at = load_->Started();
  b1_ = std::make_unique<Backend>(Args("b1r", {"--listen", t1}));
  ASSERT_EQ(b1_->port(), port);
  ASSERT_GE(WaitEvent("HEALTHY " + t1).started, restarted_at);
  load_->AllowUpTo(kRequests);
  load_->Join();

  Totals t = Check(load_->outcomes());
  Print('a', t);
  EXPECT_EQ(t.failed, 0);
  EXPECT_EQ(Events(), (std::vector<std::string>{"UNHEALTHY " + t1, "HEALTHY " + t1}));
  // Only tries picked before the ejection met the dead b1, at most one per
  // thread; each was retried once, on another backend.
  EXPECT_GE(t.retried, 1);
  EXPECT_LE(t.retried, kThreads);
  ExpectRetriedAwayFrom(port, "b1", 0, down.started, restarted_at);
  EXPECT_GT(t.by_backend["b1"], 0);
  EXPECT_GT(t.by_backend["b1r"], 0);  // back in rotation
  EXPECT_EQ(AddressHealth(t1), "HEALTHY");
  ExpectServed(*b1_, t.by_backend["b1r"]);
  ExpectServed(*b2_, t.by_backend["b2"]);
  ExpectServed(*b3_, t.by_backend["b3"]);
}

// (b) b2 answers 500 to everything from request 5 000 on. A 500 is a
// response: never retried, never a failure of svc; three of them eject b2.
TEST_F(Faults, BackendAnswering500sIsEjectedAfterExactlyThreeOfThem) {
  const std::string t2 = b2_->target();
  RecordLog({"(HTTP) for '127.0.0.1(" + t2 + ")'", "transition of"});
  Upstream(Healthchecks(), {b1_->target(), t2, b3_->target()});
  StartLoad(15000);
  ASSERT_TRUE(load_->WaitStarted(5000));
  http::Response res;
  Status st = Direct(b2_->port(), "/_admin/status/500", &res);
  ASSERT_TRUE(st.ok()) << st.message();
  const Event down = WaitEvent("UNHEALTHY " + t2);
  ASSERT_GE(down.started, 5000);
  load_->AllowUpTo(kRequests);
  load_->Join();

  Totals t = Check(load_->outcomes());
  Print('b', t);
  std::printf("FAULTS-DETAIL scenario=b status500=%d\n", t.status500);
  std::fflush(stdout);
  EXPECT_EQ(t.failed, 0);
  EXPECT_EQ(t.retried, 0);
  EXPECT_EQ(Events(), (std::vector<std::string>{"UNHEALTHY " + t2}));
  // Every 500 came from b2 and from a request picked before the ejection.
  const auto& outcomes = load_->outcomes();
  for (int i = 0; i < kRequests; ++i)
    if (outcomes[i].http_status == 500) {
      EXPECT_EQ(outcomes[i].backend, "b2") << "request " << i;
      EXPECT_LT(i, down.started) << "request " << i;
    }
  for (int i = 0; i < kRequests; ++i)
    if (outcomes[i].backend == "b2") EXPECT_LT(i, down.started) << "request " << i << " reached the ejected b2";
  // The passive counter saw exactly three 500s when it ejected b2 (the
  // engine logs each report in the order it applied them). 500s that were
  // already on their way when the third one arrived are answers to tries
  // picked before the ejection: at most one per other thread.
  const std::vector<std::string> log = Log();
  const std::string transition = "unhealthy transition of '127.0.0.1(" + t2 + ")' in upstream 'u'";
  const auto at = std::find(log.begin(), log.end(), transition);
  ASSERT_NE(at, log.end());
  const std::string report = "passive http report (HTTP) for '127.0.0.1(" + t2 + ")'";
  auto reports = [&](auto from, auto to) {
    return std::count_if(from, to, [&](const std::string& l) { return l.rfind(report, 0) == 0; });
  };
  EXPECT_EQ(reports(log.begin(), at), 3);
  EXPECT_EQ(reports(log.begin(), log.end()), t.status500);  // every 500 counted once
  EXPECT_GE(t.status500, 3);
  EXPECT_LE(t.status500, 3 + kThreads - 1);
  EXPECT_EQ(AddressHealth(t2), "UNHEALTHY");
  ExpectServed(*b1_, t.by_backend["b1"]);
  ExpectServed(*b2_, t.by_backend["b2"], 1);  // and the switch to 500
  ExpectServed(*b3_, t.by_backend["b3"]);
}

// (c) b3 stops accepting: after 5 000 requests, with nothing in flight, it
// is replaced by a listener on its port that never accepts (connects stay
// in SYN-SENT). The first connect timeout ejects it; retries go around it.
TEST_F(Faults, BlackholedBackendTimesOutOnceAndRetriesRouteAroundIt) {
  const int port = b3_->port();
  const std::string t3 = b3_->target();
  RecordLog({"for '127.0.0.1(" + t3 + ")'"});
  Upstream(Healthchecks(), {b1_->target(), b2_->target(), t3});
  StartLoad(5000);
  ASSERT_TRUE(load_->WaitIdle());
  // Nothing in flight: b3's pooled connections close with it and are
  // dropped by the pool's liveness check, so no try ever meets a refusal.
  b3_->Stop();
  b3_ = std::make_unique<Backend>(Args("b3x", {"--listen", t3, "--accept", "off"}));
  ASSERT_EQ(b3_->port(), port);

  http::Response res;
  Status st = Direct(port, "/", &res);
  EXPECT_EQ(st.code(), Code::timeout);
  EXPECT_EQ(st.message(), "1 try failed: try 1 (" + t3 + "): connect to " + t3 + " timed out after " +
                              std::to_string(kConnectMs) + " ms");

  load_->AllowUpTo(15000);
  const Event down = WaitEvent("UNHEALTHY " + t3);
  ASSERT_GE(down.started, 5000);
  load_->AllowUpTo(kRequests);
  load_->Join();

  Totals t = Check(load_->outcomes());
  Print('c', t);
  EXPECT_EQ(t.failed, 0);
  EXPECT_EQ(Events(), (std::vector<std::string>{"UNHEALTHY " + t3}));
  EXPECT_GE(t.retried, 1);
  EXPECT_LE(t.retried, kThreads);
  ExpectRetriedAwayFrom(port, "b3", 5000, down.started, kRequests);
  // Each failed try was one timeout report; not one refusal.
  int timeouts = 0, tcp = 0;
  for (const auto& l : Log()) {
    if (l.rfind("passive timeout report (TIMEOUT) for '127.0.0.1(" + t3 + ")'", 0) == 0) ++timeouts;
    if (l.find("(TCP)") != std::string::npos) ++tcp;
  }
  EXPECT_EQ(timeouts, t.retried);
  EXPECT_EQ(tcp, 0);
  EXPECT_GT(t.by_backend["b3"], 0);
  EXPECT_EQ(t.by_backend["b3x"], 0);
  EXPECT_EQ(AddressHealth(t3), "UNHEALTHY");
  ExpectServed(*b1_, t.by_backend["b1"]);
  ExpectServed(*b2_, t.by_backend["b2"]);
}

// (d) Every 50 ms one change, in a cycle that always leaves three healthy
// targets: reload {b1,b2,b3}, add b4, delete b3, reload {b1,b2,b4}, add b3,
// delete b4. The load is let on 1 000 requests per change, so changes and
// requests interleave whatever the machine's speed.
TEST_F(Faults, TargetsChangeAndConfigReloadsEvery50Ms) {
  Backend b4(Args("b4"));
  ASSERT_GT(b4.port(), 0);
  const std::vector<std::string> all = {b1_->target(), b2_->target(), b3_->target(), b4.target()};
  auto doc = [&](const std::vector<std::string>& targets) {
    json ts = json::array();
    for (const auto& t : targets) ts.push_back({{"target", t}});
    return json{{"_format_version", "3.0"},
                {"upstreams", {{{"name", "u"}, {"healthchecks", Healthchecks()}, {"targets", ts}}}}}
        .dump();
  };
  const std::string doc_a = doc({all[0], all[1], all[2]}), doc_b = doc({all[0], all[1], all[3]});
  ASSERT_TRUE(engine_->LoadConfig(doc_a).ok());
  const std::vector<std::function<Status()>> cycle = {
      [&] { return engine_->LoadConfig(doc_a); },    [&] { return engine_->AddTarget("u", all[3], 100); },
      [&] { return engine_->DeleteTarget("u", all[2]); }, [&] { return engine_->LoadConfig(doc_b); },
      [&] { return engine_->AddTarget("u", all[2], 100); }, [&] { return engine_->DeleteTarget("u", all[3]); },
  };
  StartLoad(1000);
  int changes = 0;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread changer([&] {
    std::unique_lock<std::mutex> lock(stop_mu);
    while (!stop_cv.wait_for(lock, 50ms, [&] { return stop; })) {
      Status st = cycle[changes % cycle.size()]();
      EXPECT_TRUE(st.ok()) << "change " << changes << ": " << st.message();
      ++changes;
      load_->AllowUpTo((changes + 1) * 1000);
    }
  });
  load_->Join();
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stop = true;
  }
  stop_cv.notify_all();
  changer.join();

  Totals t = Check(load_->outcomes());
  Print('d', t);
  EXPECT_EQ(t.failed, 0);
  EXPECT_EQ(t.retried, 0);
  EXPECT_EQ(Events(), std::vector<std::string>{});
  EXPECT_GE(changes, kRequests / 1000 - 1);
  std::set<int> ports;
  for (const auto& target : all) ports.insert(std::stoi(target.substr(target.find(':') + 1)));
  for (const auto& o : load_->outcomes())
    for (int p : o.ports) EXPECT_EQ(ports.count(p), 1u) << p;
  for (const char* b : {"b1", "b2", "b3", "b4"}) EXPECT_GT(t.by_backend[b], 0) << b;
  EXPECT_EQ(t.by_backend.size(), 4u);
  ExpectServed(*b1_, t.by_backend["b1"]);
  ExpectServed(*b2_, t.by_backend["b2"]);
  ExpectServed(*b3_, t.by_backend["b3"]);
  ExpectServed(b4, t.by_backend["b4"]);
}

// A TLS backend that resets the connection: svc's close_notify then goes to
// a reset socket. Through OpenSSL's socket BIO that write raised SIGPIPE and
// killed the whole process (found by scenario (a)); now it is only an error.
TEST_F(Faults, TlsPeerResetIsAnErrorNotASigpipe) {
  ASSERT_EQ(signal(SIGPIPE, SIG_DFL), SIG_DFL);  // a host that kept the default
  for (int i = 0; i < 3; ++i) {
    http::Response res;
    Status st = Direct(b1_->port(), "/close", &res);
    EXPECT_EQ(st.code(), Code::connect);
    EXPECT_EQ(st.message(), "1 try failed: try 1 (" + b1_->target() + "): read from " + b1_->target() +
                                " failed: Connection reset by peer");
  }
}

}  // namespace
}  // namespace svc
