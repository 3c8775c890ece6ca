// connect_bench: connection and request rates through svc's connect mode,
// and through libcurl for comparison. One case per run, for a fixed wall
// time, against an svc-test-backend that bench/connect.sh started; prints
// one line of key=value results that connect.sh turns into a table.
//
//   connect_bench full     --port P --ca CA [--seconds S]
//   connect_bench resumed  --port P --ca CA [--seconds S]
//   connect_bench pooled   --port P [--ca CA] [--max-requests N] [--seconds S]
//   connect_bench curl     --port P [--ca CA] [--seconds S]
//   connect_bench send     --ports P1,P2,P3 [--ca CA] [--max-requests N] [--spin-us N] [--threads T] [--seconds S] [--requests N]
//   connect_bench curl-rr  --ports P1,P2,P3 [--ca CA] [--threads T] [--seconds S] [--requests N]
//   connect_bench raw      --ports P1,P2,P3 [--threads T] [--seconds S] [--requests N]
//
// full     svc_request_connect + svc_conn_release(c, 0) per connection: a new
//          TCP connection and TLS handshake each time (the backend runs with
//          --session-tickets off, so nothing can be resumed).
// resumed  the same loop after one warm-up request (its response read
//          delivers a TLS 1.3 session ticket to svc's cache). Against a TLS 1.2
//          backend with tickets every handshake resumes. Under TLS 1.3 only
//          the first does: OpenSSL uses a TLS 1.3 session once, and the
//          loop never reads, so svc never receives a newer ticket.
// pooled   sequential HTTP/1.1 GETs, written and read through svc_conn_*,
//          released with reusable=1 so the next request takes the pooled
//          connection. With --ca it is TLS ("https"), without it plain.
// curl     the same GETs with one CURL easy handle (its connection cache
//          keeps the connection), CURLOPT_CAINFO for TLS.
// send     sequential keepalive GETs through svc_request_send over an
//          upstream with one target per port (round-robin), on T threads
//          (default 1) sharing one engine; per request: svc_request_new,
//          svc_set_upstream, [svc_set_tls_verify_store], svc_request_send
//          with "Accept: */*" (so the bytes on the wire are curl's),
//          svc_response_status, svc_response_free, svc_request_free.
// curl-rr  the same GETs through libcurl's easy interface: per thread one
//          CURL handle per port (each keeps its connection), used in turn.
// raw      the lower bound for any client, plain only: per thread one
//          blocking TCP socket per port (TCP_NODELAY), send of curl's GET
//          bytes and recv until the Content-Length body is in: two system
//          calls and no other work per request.
//          send, curl-rr and raw take --requests N: stop each thread after N
//          requests (or S seconds), for valgrind/strace runs of fixed size.
//
// Output: case=... count=N wall_s=W user_s=U sys_s=S resumed=R reused=K
//         [p50_us=A p99_us=B threads=T]   (send and curl-rr only)
// (resumed / reused: how many connections or requests svc reported as
// resumed / taken from the pool; -1 where not applicable). The timed loop is
// all that is measured: engine creation and warm-up are outside it. send and
// curl-rr time every request (one steady_clock read per request, into an
// array allocated and touched before the loop) for p50 and p99; with T
// threads the rate is all requests over the wall time from the common start
// until the last thread stops.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <svc/svc.h>

#ifdef SVC_BENCH_HAVE_CURL
#include <curl/curl.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "connect_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(svc_error* err, const char* what) {
  if (!err) return;
  std::string msg = std::string(what) + " failed: " + svc_code_name(svc_error_code(err)) + ": " +
                    svc_error_message(err);
  svc_error_free(err);
  Die(msg);
}

struct Options {
  std::string mode;
  int port = 0;
  std::vector<int> ports;  // send, curl-rr
  int threads = 1;         // send, curl-rr
  long requests = 0;       // send, curl-rr: stop each thread after this many (0: no limit)
  std::string ca;        // empty: plain HTTP (pooled, curl only)
  double seconds = 5;
  int max_requests = -1;  // -1: the engine default (keepalive.max_requests 100)
  int spin_us = -1;       // -1: the engine default (read_spin_us 100)
};

Options Parse(int argc, char** argv) {
  Options o;
  if (argc < 2) Die("usage: connect_bench full|resumed|pooled|curl --port P | send|curl-rr --ports P1,P2,P3 [--ca CA] [--seconds S] [--max-requests N] [--spin-us N] [--threads T] [--requests N]");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--port") o.port = std::atoi(v);
    else if (a == "--ports") {
      for (const char* p = v; *p;) {
        char* end = nullptr;
        o.ports.push_back(static_cast<int>(std::strtol(p, &end, 10)));
        if (end == p) Die("--ports wants P1,P2,...");
        p = *end == ',' ? end + 1 : end;
      }
    }
    else if (a == "--threads") o.threads = std::atoi(v);
    else if (a == "--requests") o.requests = std::atol(v);
    else if (a == "--ca") o.ca = v;
    else if (a == "--seconds") o.seconds = std::atof(v);
    else if (a == "--max-requests") o.max_requests = std::atoi(v);
    else if (a == "--spin-us") o.spin_us = std::atoi(v);
    else Die("unknown option " + a);
  }
  if (o.mode == "raw" && !o.ca.empty()) Die("raw is plain only");
  if (o.mode == "send" || o.mode == "curl-rr" || o.mode == "raw") {
    if (o.ports.empty()) Die(o.mode + " needs --ports P1,P2,...");
    for (int p : o.ports)
      if (p <= 0 || p > 65535) Die("--ports must be 1..65535");
    if (o.threads < 1 || o.threads > 64) Die("--threads must be 1..64");
    return o;
  }
  if (o.port <= 0 || o.port > 65535) Die("--port must be 1..65535");
  if ((o.mode == "full" || o.mode == "resumed") && o.ca.empty()) Die(o.mode + " needs --ca (TLS only)");
  return o;
}

// CPU time of the whole process (every thread, the engine's included).
struct Cpu {
  double user = 0, sys = 0;
  static Cpu Now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return {s(ru.ru_utime), s(ru.ru_stime)};
  }
};

struct Result {
  long count = 0;
  double wall_s = 0;
  Cpu cpu;
  long resumed = -1;
  long reused = -1;
  double p50_us = -1, p99_us = -1;
};

// Runs `once` until `seconds` of wall time have passed; the clock is read
// every 16 iterations, so its own cost stays out of the loop.
template <class Fn>
Result Timed(double seconds, Fn once) {
  Result r;
  const Cpu c0 = Cpu::Now();
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto now = t0;
  while (now < end) {
    for (int i = 0; i < 16; ++i) once();
    r.count += 16;
    now = Clock::now();
  }
  const Cpu c1 = Cpu::Now();
  r.wall_s = std::chrono::duration<double>(now - t0).count();
  r.cpu = {c1.user - c0.user, c1.sys - c0.sys};
  return r;
}

// The request curl sends for the same URL, byte for byte.
std::string GetRequest(int port) {
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nAccept: */*\r\n\r\n";
}

// Reads one HTTP/1.1 response with a Content-Length body (what the backend
// sends) and returns its status. Enough HTTP for a benchmark, not a parser.
int ReadResponse(svc_conn* c, std::string& buf) {
  buf.clear();
  size_t header_end = std::string::npos;
  size_t need = 0;
  char chunk[16384];
  for (;;) {
    if (header_end != std::string::npos && buf.size() >= need) break;
    size_t n = 0;
    Check(svc_conn_read(c, chunk, sizeof chunk, &n), "svc_conn_read");
    if (n == 0) Die("the backend closed the connection mid-response");
    buf.append(chunk, n);
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      size_t length = 0;
      for (const char* name : {"\r\nContent-Length:", "\r\ncontent-length:"}) {
        const size_t at = buf.find(name);
        if (at != std::string::npos && at < header_end) {
          length = std::strtoul(buf.c_str() + at + std::strlen(name), nullptr, 10);
          break;
        }
      }
      need = header_end + 4 + length;
    }
  }
  if (buf.size() != need) Die("unexpected bytes after the response");
  return std::atoi(buf.c_str() + 9);  // "HTTP/1.1 200"
}

class SvcClient {
 public:
  explicit SvcClient(const Options& o) : tls_(!o.ca.empty()) {
    std::string options = R"({"io_threads": 1, "scheme": ")" + std::string(tls_ ? "https" : "http") + "\"";
    if (o.max_requests >= 0) options += R"(, "keepalive": {"max_requests": )" + std::to_string(o.max_requests) + "}";
    if (o.spin_us >= 0) options += R"(, "read_spin_us": )" + std::to_string(o.spin_us);
    options += "}";
    Check(svc_engine_new(&engine_, options.c_str()), "svc_engine_new");
    Check(svc_upstream_upsert(engine_, R"({"name": "bench"})"), "svc_upstream_upsert");
    const std::string target = "127.0.0.1:" + std::to_string(o.port);
    Check(svc_target_add(engine_, "bench", target.c_str(), 100), "svc_target_add");
    if (tls_) {
      Check(svc_trust_store_new(&store_), "svc_trust_store_new");
      Check(svc_trust_store_load_file(store_, o.ca.c_str()), "svc_trust_store_load_file");
    }
  }
  ~SvcClient() {
    svc_trust_store_free(store_);
    svc_engine_free(engine_);
  }

  // A request as a proxy makes one: route through the upstream, trust the
  // test CA (verification on, the peer's IP SAN checked), connect.
  svc_conn* Connect() {
    svc_request* r = nullptr;
    Check(svc_request_new(&r, engine_), "svc_request_new");
    Check(svc_set_upstream(r, "bench"), "svc_set_upstream");
    if (store_) Check(svc_set_tls_verify_store(r, store_), "svc_set_tls_verify_store");
    svc_conn* c = nullptr;
    Check(svc_request_connect(r, &c), "svc_request_connect");
    svc_request_free(r);
    return c;
  }

 private:
  bool tls_;
  svc_engine* engine_ = nullptr;
  svc_trust_store* store_ = nullptr;
};

Result RunHandshakes(const Options& o, bool expect_resumed) {
  SvcClient client(o);
  const std::string get = GetRequest(o.port);
  std::string buf;
  if (expect_resumed) {
    // TLS 1.3 sends the session ticket after the handshake: only a read
    // delivers it to svc's session cache.
    svc_conn* c = client.Connect();
    Check(svc_conn_write(c, get.data(), get.size()), "svc_conn_write");
    if (ReadResponse(c, buf) != 200) Die("warm-up request failed");
    svc_conn_release(c, 0);
  }
  long resumed = 0;
  Result r = Timed(o.seconds, [&] {
    svc_conn* c = client.Connect();
    resumed += svc_conn_tls_resumed(c);
    svc_conn_release(c, 0);
  });
  r.resumed = resumed;
  return r;
}

Result RunPooled(const Options& o) {
  SvcClient client(o);
  const std::string get = GetRequest(o.port);
  std::string buf;
  long reused = 0;
  auto once = [&] {
    svc_conn* c = client.Connect();
    reused += svc_conn_reused(c);
    Check(svc_conn_write(c, get.data(), get.size()), "svc_conn_write");
    if (ReadResponse(c, buf) != 200) Die("request failed");
    svc_conn_release(c, 1);
  };
  once();  // the first connection (and its handshake) is not timed
  reused = 0;
  Result r = Timed(o.seconds, once);
  r.reused = reused;
  return r;
}

// ----- send mode over several backends, and libcurl round-robin --------------

// Per-thread latency record: allocated and written once before the timed
// loop (no page faults, no allocation inside it). Requests past the end are
// not taken: the loop stops when it is full.
struct Latencies {
  std::vector<std::uint32_t> ns;
  size_t n = 0;
  explicit Latencies(double seconds) : ns(static_cast<size_t>(seconds * 200000) + 64, 0) {}
};

// Runs `threads` copies of a per-thread loop from one common start for
// `seconds`. make(i) builds thread i's state and returns a callable doing one
// request; it is built (and warmed up) before the start, outside the timing.
// `requests` > 0 stops each thread after that many requests (for profiling:
// valgrind and strace compare two fixed counts).
template <class Make>
Result TimedThreads(double seconds, int threads, long requests, Make make) {
  std::vector<Latencies> lat;
  lat.reserve(threads);
  for (int i = 0; i < threads; ++i) lat.emplace_back(seconds);
  if (requests > 0)
    for (auto& l : lat) l.ns.resize(std::min(l.ns.size(), static_cast<size_t>(requests)));
  std::vector<Clock::time_point> stopped(threads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point t0;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      auto once = make(i);
      Latencies& l = lat[i];
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      auto prev = t0;
      const size_t cap = l.ns.size();
      while (l.n < cap) {
        once();
        const auto now = Clock::now();
        l.ns[l.n++] = static_cast<std::uint32_t>(
            std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev).count(), UINT32_MAX));
        prev = now;
        if (now >= end) break;
      }
      stopped[i] = prev;
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  Result r;
  const Cpu c0 = Cpu::Now();
  t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : pool) t.join();
  const Cpu c1 = Cpu::Now();
  auto last = t0;
  std::vector<std::uint32_t> all;
  for (int i = 0; i < threads; ++i) {
    last = std::max(last, stopped[i]);
    all.insert(all.end(), lat[i].ns.begin(), lat[i].ns.begin() + static_cast<std::ptrdiff_t>(lat[i].n));
    r.count += static_cast<long>(lat[i].n);
  }
  r.wall_s = std::chrono::duration<double>(last - t0).count();
  r.cpu = {c1.user - c0.user, c1.sys - c0.sys};
  auto pct = [&](double q) {
    if (all.empty()) return -1.0;
    const size_t k = std::min(all.size() - 1, static_cast<size_t>(q * static_cast<double>(all.size())));
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
    return all[k] / 1000.0;
  };
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  return r;
}

Result RunSend(const Options& o) {
  svc_engine* engine = nullptr;
  std::string options = R"({"io_threads": 1, "scheme": ")" + std::string(o.ca.empty() ? "http" : "https") + "\"";
  if (o.max_requests >= 0) options += R"(, "keepalive": {"max_requests": )" + std::to_string(o.max_requests) + "}";
  if (o.spin_us >= 0) options += R"(, "read_spin_us": )" + std::to_string(o.spin_us);
  options += "}";
  Check(svc_engine_new(&engine, options.c_str()), "svc_engine_new");
  Check(svc_upstream_upsert(engine, R"({"name": "bench"})"), "svc_upstream_upsert");
  for (int p : o.ports)
    Check(svc_target_add(engine, "bench", ("127.0.0.1:" + std::to_string(p)).c_str(), 100), "svc_target_add");
  svc_trust_store* store = nullptr;
  if (!o.ca.empty()) {
    Check(svc_trust_store_new(&store), "svc_trust_store_new");
    Check(svc_trust_store_load_file(store, o.ca.c_str()), "svc_trust_store_load_file");
  }
  static const char* const kHeaders[] = {"Accept: */*", nullptr};
  auto once = [engine, store] {
    svc_request* r = nullptr;
    Check(svc_request_new(&r, engine), "svc_request_new");
    Check(svc_set_upstream(r, "bench"), "svc_set_upstream");
    if (store) Check(svc_set_tls_verify_store(r, store), "svc_set_tls_verify_store");
    svc_response* res = nullptr;
    Check(svc_request_send(r, "GET", "/", kHeaders, nullptr, 0, &res), "svc_request_send");
    if (svc_response_status(res) != 200) Die("request failed with status " + std::to_string(svc_response_status(res)));
    svc_response_free(res);
    svc_request_free(r);
  };
  // Warm-up outside the timing: each thread's first round opens (and, over
  // TLS, handshakes) the connections it will keep.
  Result r = TimedThreads(o.seconds, o.threads, o.requests, [&](int) {
    for (size_t i = 0; i < o.ports.size(); ++i) once();
    return once;
  });
  svc_trust_store_free(store);
  svc_engine_free(engine);
  return r;
}

// One thread's blocking sockets, one per port, used in turn.
class RawSet {
 public:
  explicit RawSet(const Options& o) {
    for (int p : o.ports) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) Die("socket failed");
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(p));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("connect to " + std::to_string(p) + " failed");
      fds_.push_back(fd);
      gets_.push_back(GetRequest(p));
    }
  }
  ~RawSet() {
    for (int fd : fds_) ::close(fd);
  }
  RawSet(const RawSet&) = delete;
  RawSet& operator=(const RawSet&) = delete;

  void Once() {
    const int fd = fds_[next_];
    const std::string& get = gets_[next_];
    next_ = next_ + 1 == fds_.size() ? 0 : next_ + 1;
    if (::send(fd, get.data(), get.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(get.size())) Die("send failed");
    size_t have = 0, need = 0;
    for (;;) {
      const ssize_t n = ::recv(fd, buf_ + have, sizeof buf_ - have, 0);
      if (n <= 0) Die("the backend closed the connection");
      have += static_cast<size_t>(n);
      if (need == 0) {
        const std::string_view v(buf_, have);
        const size_t end = v.find("\r\n\r\n");
        if (end == std::string_view::npos) continue;
        size_t length = 0;
        for (const char* name : {"\r\nContent-Length:", "\r\ncontent-length:"}) {
          const size_t at = v.find(name);
          if (at != std::string_view::npos && at < end) {
            length = std::strtoul(buf_ + at + std::strlen(name), nullptr, 10);
            break;
          }
        }
        need = end + 4 + length;
      }
      if (have >= need) break;
    }
    if (std::strncmp(buf_, "HTTP/1.1 200", 12) != 0) Die("request failed");
  }

 private:
  std::vector<int> fds_;
  std::vector<std::string> gets_;
  size_t next_ = 0;
  char buf_[16384];
};

Result RunRaw(const Options& o) {
  std::vector<std::unique_ptr<RawSet>> sets(o.threads);
  return TimedThreads(o.seconds, o.threads, o.requests, [&](int i) {
    sets[i] = std::make_unique<RawSet>(o);
    RawSet* s = sets[i].get();
    return [s] { s->Once(); };
  });
}

#ifdef SVC_BENCH_HAVE_CURL
size_t Discard(char*, size_t size, size_t n, void* total);

// One CURL handle per backend for one thread, used in turn.
class CurlSet {
 public:
  CurlSet(const Options& o) {
    for (int p : o.ports) {
      CURL* h = curl_easy_init();
      if (!h) Die("curl_easy_init failed");
      urls_.push_back(std::string(o.ca.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(p) + "/");
      curl_easy_setopt(h, CURLOPT_URL, urls_.back().c_str());
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Discard);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &body_);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      if (!o.ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca.c_str());
      handles_.push_back(h);
    }
  }
  ~CurlSet() {
    for (CURL* h : handles_) curl_easy_cleanup(h);
  }
  CurlSet(const CurlSet&) = delete;
  CurlSet& operator=(const CurlSet&) = delete;

  void Once() {
    CURL* h = handles_[next_];
    next_ = next_ + 1 == handles_.size() ? 0 : next_ + 1;
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) Die(std::string("curl_easy_perform: ") + curl_easy_strerror(rc));
    long status = 0, fresh = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &fresh);
    if (status != 200) Die("request failed with status " + std::to_string(status));
    connects += fresh;
  }
  long connects = 0;

 private:
  std::vector<std::string> urls_;  // CURLOPT_URL copies the string
  std::vector<CURL*> handles_;
  size_t next_ = 0;
  size_t body_ = 0;
};

Result RunCurlRoundRobin(const Options& o) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<std::unique_ptr<CurlSet>> sets(o.threads);
  Result r = TimedThreads(o.seconds, o.threads, o.requests, [&](int i) {
    sets[i] = std::make_unique<CurlSet>(o);
    CurlSet* s = sets[i].get();
    for (size_t k = 0; k < o.ports.size(); ++k) s->Once();
    s->connects = 0;
    return [s] { s->Once(); };
  });
  long connects = 0;
  for (auto& s : sets) connects += s->connects;
  r.reused = r.count - connects;
  sets.clear();
  curl_global_cleanup();
  return r;
}
#endif

#ifdef SVC_BENCH_HAVE_CURL
size_t Discard(char*, size_t size, size_t n, void* total) {
  *static_cast<size_t*>(total) += size * n;
  return size * n;
}

Result RunCurl(const Options& o) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* h = curl_easy_init();
  if (!h) Die("curl_easy_init failed");
  const std::string url = std::string(o.ca.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(o.port) + "/";
  size_t body = 0;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (!o.ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca.c_str());
  long connects = 0;
  auto once = [&] {
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) Die(std::string("curl_easy_perform: ") + curl_easy_strerror(rc));
    long status = 0, fresh = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &fresh);
    if (status != 200) Die("request failed with status " + std::to_string(status));
    connects += fresh;
  };
  once();
  connects = 0;
  Result r = Timed(o.seconds, once);
  r.reused = r.count - connects;
  curl_easy_cleanup(h);
  curl_global_cleanup();
  return r;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::string name = o.mode;
  Result r;
  if (o.mode == "full") {
    r = RunHandshakes(o, false);
  } else if (o.mode == "resumed") {
    r = RunHandshakes(o, true);
  } else if (o.mode == "pooled") {
    r = RunPooled(o);
  } else if (o.mode == "send") {
    r = RunSend(o);
  } else if (o.mode == "raw") {
    r = RunRaw(o);
  } else if (o.mode == "curl-rr") {
#ifdef SVC_BENCH_HAVE_CURL
    r = RunCurlRoundRobin(o);
#else
    Die("built without libcurl (find_package(CURL) failed)");
#endif
  } else if (o.mode == "curl") {
#ifdef SVC_BENCH_HAVE_CURL
    r = RunCurl(o);
#else
    Die("built without libcurl (find_package(CURL) failed)");
#endif
  } else {
    Die("unknown case '" + o.mode + "'");
  }
  std::printf("case=%s count=%ld wall_s=%.4f user_s=%.4f sys_s=%.4f resumed=%ld reused=%ld\n", name.c_str(),
              r.count, r.wall_s, r.cpu.user, r.cpu.sys, r.resumed, r.reused);
  if (r.p50_us >= 0) std::printf("p50_us=%.2f p99_us=%.2f threads=%d\n", r.p50_us, r.p99_us, o.threads);
  return 0;
}
