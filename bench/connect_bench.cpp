// connect_bench: connection and request rates through svc's connect mode,
// and through libcurl for comparison. One case per run, for a fixed wall
// time, against an svc-test-backend that bench/connect.sh started; prints
// one line of key=value results that connect.sh turns into a table.
//
//   connect_bench full     --port P --ca CA [--seconds S]
//   connect_bench resumed  --port P --ca CA [--seconds S]
//   connect_bench pooled   --port P [--ca CA] [--max-requests N] [--seconds S]
//   connect_bench curl     --port P [--ca CA] [--seconds S]
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
//
// Output: case=... count=N wall_s=W user_s=U sys_s=S resumed=R reused=K
// (resumed / reused: how many connections or requests svc reported as
// resumed / taken from the pool; -1 where not applicable). The timed loop is
// all that is measured: engine creation and warm-up are outside it.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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
  std::string ca;        // empty: plain HTTP (pooled, curl only)
  double seconds = 5;
  int max_requests = -1;  // -1: the engine default (keepalive.max_requests 100)
};

Options Parse(int argc, char** argv) {
  Options o;
  if (argc < 2) Die("usage: connect_bench full|resumed|pooled|curl --port P [--ca CA] [--seconds S] [--max-requests N]");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--port") o.port = std::atoi(v);
    else if (a == "--ca") o.ca = v;
    else if (a == "--seconds") o.seconds = std::atof(v);
    else if (a == "--max-requests") o.max_requests = std::atoi(v);
    else Die("unknown option " + a);
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
  return 0;
}
