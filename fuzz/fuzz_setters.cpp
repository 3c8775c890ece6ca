// fuzz_setters: the input is a program of C API calls (svc.h only) on one
// engine and one request: the kong.service setters, pick and report, TLS
// material, upstream and target management, health, config reloads.
//
// Program format (fuzz/make_setter_seeds.py writes the seeds from readable lists):
// each step is one opcode byte (taken modulo the number of Op values below;
// append new ops at the end so that the seeds keep their meaning), then the
// operands that op reads. Operands past the end of the input read as zero.
//   int     1 byte: < 0x80 picks from kInts (edge values), else 4 more bytes, little endian
//   string  1 byte: < 0x80 picks from the op's table of names, 0xFE is NULL,
//           else 1 length byte and that many bytes of text
//   bytes   1 length byte and that many bytes
//
// Each input gets a fresh engine (1 I/O thread, no trust store loading)
// with four upstreams on 127.0.0.1 ports nobody listens on, so a crash
// reproduces from its input alone. Nothing reaches the network: connect
// and send are never called, connect(2) itself is stubbed to refuse (active
// probes a fuzzed config turns on, DNS queries to the engine's resolver at
// 127.0.0.1:1), and getaddrinfo resolves IP literals and "localhost" only.
//
// Every call's svc_error is checked and freed: a valid code, a non-empty
// message, never SVC_EINTERNAL. Ops check their own postconditions.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "svc/svc.h"

// Name resolution without the network: literals only, "localhost" is 127.0.0.1.
extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo h = hints ? *hints : addrinfo{};
  h.ai_flags |= AI_NUMERICHOST;
  if (node && std::strcmp(node, "localhost") == 0) node = "127.0.0.1";
  return real(node, service, &h, res);
}

// Nothing connects: active health probes (which a fuzzed config may turn
// on) and DNS queries are refused at once, so the fuzzer never reaches the
// network whatever the input says.
extern "C" int connect(int, const struct sockaddr*, socklen_t) {
  errno = ECONNREFUSED;
  return -1;
}

// c_calls.c: the enum-typed calls, made from C with plain ints.
extern "C" {
svc_error* fuzz_request_set_phase(svc_request* r, int phase);
svc_error* fuzz_request_set_hash_input(svc_request* r, int kind, const char* name, const char* value);
svc_error* fuzz_request_report(svc_request* r, int outcome, int http_status, uint32_t latency_us);
svc_error* fuzz_error_new(int code, const char* message);
const char* fuzz_code_name(int code);
int fuzz_error_code(const svc_error* e);
int fuzz_request_phase(const svc_request* r);
}

namespace {

const char* const kEngineOptions =
    R"({"io_threads": 1, "tls": {"trust": "none"}, "dns": {"servers": ["127.0.0.1:1"]}, "seed": 7})";

// JSON rather than YAML: it is parsed once per input, and JSON is cheaper.
const char* const kBaseConfig = R"({"_format_version": "3.0", "upstreams": [
  {"name": "rr", "targets": [{"target": "127.0.0.1:1"}, {"target": "127.0.0.1:2", "weight": 50},
                             {"target": "[::1]:3"}]},
  {"name": "ch", "algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "X-User",
   "hash_fallback": "ip", "slots": 100, "targets": [{"target": "127.0.0.1:4"}, {"target": "127.0.0.1:5"}]},
  {"name": "lc", "algorithm": "least-connections",
   "healthchecks": {"threshold": 50, "passive": {"healthy": {"successes": 1},
                    "unhealthy": {"tcp_failures": 1, "timeouts": 1, "http_failures": 1}}},
   "targets": [{"target": "127.0.0.1:6"}, {"target": "localhost:7"}]},
  {"name": "lat", "algorithm": "latency", "targets": [{"target": "127.0.0.1:8", "weight": 0},
                                                      {"target": "127.0.0.1:9"}]}]})";

const int kInts[] = {0, 1, -1, 2, 3, 5, 100, 255, 256, 999, 1000, 32767, 32768, 65535, 65536, 70000,
                     2147483646, INT_MAX, INT_MIN};

const std::vector<const char*> kUpstreams = {"rr", "ch", "lc", "lat", "missing", "", "RR", "rr:80"};
const std::vector<const char*> kHosts = {"127.0.0.1", "::1", "[::1]", "localhost", "", "backend.test.",
                                         "10.0.0.1", "::ffff:127.0.0.1", "127.1", "host.invalid"};
const std::vector<const char*> kTargets = {"127.0.0.1:10", "127.0.0.1", "[::1]:11", "::1", "localhost:12",
                                           "localhost", "127.0.0.1:0", "127.0.0.1:65536", "host.invalid:1",
                                           "[::1", "1.2.3", "", "127.0.0.1:1", "[::1]:3", "localhost:7"};
const std::vector<const char*> kAddresses = {"127.0.0.1:1", "127.0.0.1:2", "::1:3", "[::1]:3", "127.0.0.1",
                                             "127.0.0.1:7", "x", ""};
const std::vector<const char*> kSchemes = {"http", "https", "tcp", "tls", "HTTP", "", "udp"};
const std::vector<const char*> kHashNames = {"X-User", "x-user", "session", "id", "", "Cookie"};
const std::vector<const char*> kAlgorithms = {"round-robin", "consistent-hashing", "least-connections",
                                              "latency", "random"};
const std::vector<const char*> kHashOn = {"none", "header", "cookie", "ip", "consumer", "path", "query_arg",
                                          "uri_capture", "bogus"};
const std::vector<const char*> kPassphrases = {"svc-fuzz", "wrong", ""};

// The throwaway PEM files of corpus/pem, read once.
struct Material {
  std::string chain, leaf, rsa_cert, ed_cert, bundle;
  std::string key, key_encrypted, key_ec_encrypted, rsa_key, ed_key;
  std::string bundle_path;
};
Material g_pem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FUZZ_CHECK(in.good(), "cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Program {
 public:
  Program(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool done() const { return p_ >= end_; }
  uint8_t U8() { return p_ < end_ ? *p_++ : 0; }
  int32_t I32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(U8()) << (8 * i);
    int32_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }
  int Int() {
    const uint8_t b = U8();
    if (b < 0x80) return kInts[b % (sizeof kInts / sizeof kInts[0])];
    return I32();
  }
  std::string Bytes() {
    size_t n = U8();
    n = std::min<size_t>(n, static_cast<size_t>(end_ - p_));
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // A string operand: from `table`, fuzzed text, or NULL (nullopt).
  std::optional<std::string> Str(const std::vector<const char*>& table) {
    const uint8_t b = U8();
    if (b == 0xFE) return std::nullopt;
    if (b < 0x80) return std::string(table[b % table.size()]);
    return Bytes();
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

const char* Ptr(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

// Checks and frees an error; returns its code (SVC_OK for success).
svc_code Check(svc_error* err, const char* call) {
  if (!err) return SVC_OK;
  const int code = fuzz_error_code(err);
  const char* message = svc_error_message(err);
  FUZZ_CHECK(code > SVC_OK && code <= SVC_ECANCELED, std::string(call) + ": code " + std::to_string(code));
  FUZZ_CHECK(message && *message, std::string(call) + ": empty message");
  FUZZ_CHECK(code != SVC_EINTERNAL, std::string(call) + ": " + message);
  FUZZ_CHECK(std::strncmp(fuzz_code_name(code), "SVC_E", 5) == 0, fuzz_code_name(code));
  svc_error_free(err);
  return static_cast<svc_code>(code);
}

#define CALL(expr) Check((expr), #expr)

std::atomic<int> g_events{0};

void OnHealth(void* userdata, const char* upstream, const char* target, const char* address, int healthy) {
  FUZZ_CHECK(userdata == &g_events, "health userdata");
  FUZZ_CHECK(upstream && target && address && (healthy == 0 || healthy == 1), "health event arguments");
  g_events.fetch_add(1, std::memory_order_relaxed);
}

void OnLog(void* userdata, int level, const char* message) {
  FUZZ_CHECK(userdata == &g_events, "log userdata");
  FUZZ_CHECK(level >= 0 && level <= 3 && message, "log event arguments");
  g_events.fetch_add(1, std::memory_order_relaxed);
}

svc_error* OnBalancer(void*, svc_request*) { return svc_error_new(SVC_EINVAL, "never called: nothing connects"); }

enum class Op : uint8_t {
  request_new, request_free, set_phase, set_upstream, set_target, set_tls_cert_key, set_tls_verify,
  set_tls_verify_depth, set_tls_verify_store, set_retries, set_timeouts, set_hash_key, set_scheme,
  set_hash_input, pick, report, getters, chain_parse, key_parse, store_new, store_add, store_load,
  upsert, upstream_delete, target_add, target_delete, target_set_health, upstream_health, upstream_get,
  load_config, engine_free, on_health, on_log, on_balancer, error_new,
  count  // not an op
};

struct State {
  svc_engine* engine = nullptr;
  bool engine_freed = false;
  svc_request* request = nullptr;
  svc_cert_chain* chains[2] = {nullptr, nullptr};
  svc_private_key* keys[2] = {nullptr, nullptr};
  svc_trust_store* stores[2] = {nullptr, nullptr};

  ~State() {
    svc_request_free(request);
    for (auto* c : chains) svc_cert_chain_free(c);
    for (auto* k : keys) svc_private_key_free(k);
    for (auto* s : stores) svc_trust_store_free(s);
    svc_engine_free(engine);
  }
};

const std::string& PemChoice(uint8_t b, bool key) {
  static const std::string* const certs[] = {&g_pem.chain, &g_pem.leaf, &g_pem.rsa_cert, &g_pem.ed_cert,
                                             &g_pem.bundle, &g_pem.key};
  static const std::string* const keys[] = {&g_pem.key, &g_pem.key_encrypted, &g_pem.key_ec_encrypted,
                                            &g_pem.rsa_key, &g_pem.ed_key, &g_pem.chain};
  return key ? *keys[b % 6] : *certs[b % 6];
}

// PEM text for a parse call: a file of corpus/pem, a prefix of one, or fuzzed bytes.
std::string PemOperand(Program& in, bool key) {
  const uint8_t mode = in.U8();
  const std::string& file = PemChoice(in.U8(), key);
  switch (mode % 3) {
    case 0: return file;
    case 1: return file.substr(0, std::min<size_t>(file.size(), static_cast<size_t>(in.U8()) * 8));
    default: return in.Bytes();
  }
}

std::string UpstreamEntity(Program& in) {
  nlohmann::json e = nlohmann::json::object();
  if (auto name = in.Str(kUpstreams)) e["name"] = *name;
  const uint8_t fields = in.U8();
  if (fields & 1) e["algorithm"] = kAlgorithms[in.U8() % kAlgorithms.size()];
  if (fields & 2) e["hash_on"] = kHashOn[in.U8() % kHashOn.size()];
  if (fields & 4) e["hash_on_header"] = "X-User";
  if (fields & 8) e["slots"] = in.Int();
  if (fields & 16) e["healthchecks"] = {{"threshold", in.Int() % 200},
                                        {"passive", {{"unhealthy", {{"tcp_failures", in.Int() % 300}}}}}};
  if (fields & 32) e["host_header"] = "backend.test:8443";
  if (fields & 64) e["hash_on_cookie"] = "session";
  if (fields & 128) e["hash_fallback"] = kHashOn[in.U8() % kHashOn.size()];
  // A fuzzed name may not be UTF-8: replace such bytes, the result stays JSON.
  return e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void CheckJsonOut(svc_code code, char* out, const char* call) {
  if (code == SVC_OK) {
    FUZZ_CHECK(out != nullptr, std::string(call) + " succeeded without output");
    const auto doc = nlohmann::json::parse(out, nullptr, false);
    FUZZ_CHECK(doc.is_object(), std::string(call) + " gave " + out);
  } else {
    FUZZ_CHECK(out == nullptr, std::string(call) + " failed and gave output");
  }
  svc_free(out);
}

void Step(Program& in, State& s) {
  svc_request* r = s.request;
  switch (static_cast<Op>(in.U8() % static_cast<uint8_t>(Op::count))) {
    case Op::request_new: {
      svc_request_free(s.request);
      s.request = reinterpret_cast<svc_request*>(&s);  // must be overwritten
      const svc_code c = CALL(svc_request_new(&s.request, s.engine));
      FUZZ_CHECK((c == SVC_OK) == (s.request != nullptr), "request_new out");
      if (c == SVC_OK) FUZZ_CHECK(fuzz_request_phase(s.request) == SVC_PHASE_ACCESS, "new request phase");
      if (!s.engine) FUZZ_CHECK(c == SVC_EINVAL, "request_new without an engine");
      break;
    }
    case Op::request_free:
      svc_request_free(s.request);
      s.request = nullptr;
      break;
    case Op::set_phase: {
      const int p = in.Int() % 8;
      const svc_code c = CALL(fuzz_request_set_phase(r, p));
      if (c == SVC_OK) FUZZ_CHECK(fuzz_request_phase(r) == p, "set_phase did not stick");
      if (c == SVC_OK) FUZZ_CHECK(p == SVC_PHASE_REWRITE || p == SVC_PHASE_ACCESS, std::to_string(p));
      break;
    }
    case Op::set_upstream: {
      auto host = in.Str(kUpstreams);
      CALL(svc_set_upstream(r, Ptr(host)));
      break;
    }
    case Op::set_target: {
      auto host = in.Str(kHosts);
      const int port = in.Int();
      const svc_code c = CALL(svc_set_target(r, Ptr(host), port));
      if (c == SVC_OK) FUZZ_CHECK(port >= 0 && port <= 65535 && host && !host->empty(), "set_target accepted");
      break;
    }
    case Op::set_tls_cert_key: {
      const uint8_t b = in.U8();
      const svc_cert_chain* chain = (b & 3) < 2 ? s.chains[b & 1] : nullptr;
      const svc_private_key* key = ((b >> 2) & 3) < 2 ? s.keys[(b >> 2) & 1] : nullptr;
      const svc_code c = CALL(svc_set_tls_cert_key(r, chain, key));
      if (c == SVC_OK) FUZZ_CHECK(chain && key, "cert_key accepted NULL");
      break;
    }
    case Op::set_tls_verify:
      CALL(svc_set_tls_verify(r, in.Int()));
      break;
    case Op::set_tls_verify_depth: {
      const int depth = in.Int();
      const svc_code c = CALL(svc_set_tls_verify_depth(r, depth));
      if (c == SVC_OK) FUZZ_CHECK(depth >= 0, std::to_string(depth));
      break;
    }
    case Op::set_tls_verify_store: {
      const uint8_t b = in.U8();
      CALL(svc_set_tls_verify_store(r, b % 3 < 2 ? s.stores[b % 3] : nullptr));
      break;
    }
    case Op::set_retries: {
      const int n = in.Int();
      const svc_code c = CALL(svc_set_retries(r, n));
      if (c == SVC_OK) FUZZ_CHECK(n >= 0 && n <= 32767, std::to_string(n));
      break;
    }
    case Op::set_timeouts: {
      const int a = in.Int(), b = in.Int(), t = in.Int();
      const svc_code c = CALL(svc_set_timeouts(r, a, b, t));
      if (c == SVC_OK) FUZZ_CHECK(a >= 1 && b >= 1 && t >= 1 && a < INT_MAX && b < INT_MAX && t < INT_MAX, "timeouts");
      break;
    }
    case Op::set_hash_key: {
      const uint8_t mode = in.U8();
      std::string key = in.Bytes();
      if (mode % 4 == 0) {
        CALL(svc_set_hash_key(r, nullptr, 0));
      } else if (mode % 4 == 1) {
        FUZZ_CHECK(CALL(svc_set_hash_key(r, nullptr, 1 + key.size())) != SVC_OK, "NULL key with a length");
      } else {
        CALL(svc_set_hash_key(r, key.data(), key.size()));
      }
      break;
    }
    case Op::set_scheme: {
      auto scheme = in.Str(kSchemes);
      const svc_code c = CALL(svc_request_set_scheme(r, Ptr(scheme)));
      if (c == SVC_OK) FUZZ_CHECK(std::strcmp(svc_request_scheme(r), scheme->c_str()) == 0, *scheme);
      break;
    }
    case Op::set_hash_input: {
      const int kind = in.Int() % 10;
      auto name = in.Str(kHashNames);
      auto value = in.Str(kHashNames);
      CALL(fuzz_request_set_hash_input(r, kind, Ptr(name), Ptr(value)));
      break;
    }
    case Op::pick: {
      const int tries = svc_request_tries(r);
      const svc_code c = CALL(svc_request_pick(r));
      if (c != SVC_OK) {
        FUZZ_CHECK(svc_request_tries(r) == tries, "a failed pick counted a try");
        break;
      }
      FUZZ_CHECK(!s.engine_freed, "pick succeeded after svc_engine_free");
      FUZZ_CHECK(svc_request_tries(r) == tries + 1, "tries after pick");
      FUZZ_CHECK(fuzz_request_phase(r) == SVC_PHASE_BALANCER, "phase after pick");
      const char* ip = svc_request_peer_ip(r);
      const char* host = svc_request_peer_host(r);
      const int port = svc_request_peer_port(r);
      FUZZ_CHECK(ip && host, "picked peer without ip or host");
      unsigned char buf[sizeof(in6_addr)];
      FUZZ_CHECK(inet_pton(AF_INET, ip, buf) == 1 || inet_pton(AF_INET6, ip, buf) == 1, ip);
      FUZZ_CHECK(port >= 0 && port <= 65535, std::to_string(port));
      break;
    }
    case Op::report: {
      const int o = in.Int() % 6;
      const int status = in.Int();
      const uint32_t latency = static_cast<uint32_t>(in.I32());
      const svc_code c = CALL(fuzz_request_report(r, o, status, latency));
      if (c == SVC_OK) FUZZ_CHECK(o >= 0 && o <= 3, std::to_string(o));
      break;
    }
    case Op::getters: {
      const int phase = fuzz_request_phase(r);
      FUZZ_CHECK(r ? (phase >= SVC_PHASE_REWRITE && phase <= SVC_PHASE_LOG) : phase == 0, std::to_string(phase));
      const char* scheme = svc_request_scheme(r);
      FUZZ_CHECK(r ? scheme != nullptr : scheme == nullptr, "scheme");
      FUZZ_CHECK(svc_request_tries(r) >= 0, "tries");
      FUZZ_CHECK((svc_request_peer_ip(r) == nullptr) == (svc_request_peer_host(r) == nullptr), "peer");
      break;
    }
    case Op::chain_parse: {
      const uint8_t slot = in.U8() & 1;
      svc_cert_chain_free(s.chains[slot]);
      s.chains[slot] = nullptr;
      const uint8_t null_pem = in.U8();
      const std::string pem = PemOperand(in, false);
      const svc_code c = CALL(svc_cert_chain_parse_pem(&s.chains[slot], null_pem == 0xFE ? nullptr : pem.data(), pem.size()));
      FUZZ_CHECK((c == SVC_OK) == (s.chains[slot] != nullptr), "chain out");
      break;
    }
    case Op::key_parse: {
      const uint8_t slot = in.U8() & 1;
      svc_private_key_free(s.keys[slot]);
      s.keys[slot] = nullptr;
      auto pass = in.Str(kPassphrases);
      const std::string pem = PemOperand(in, true);
      const svc_code c = CALL(svc_private_key_parse_pem(&s.keys[slot], pem.data(), pem.size(), Ptr(pass)));
      FUZZ_CHECK((c == SVC_OK) == (s.keys[slot] != nullptr), "key out");
      break;
    }
    case Op::store_new: {
      const uint8_t slot = in.U8() & 1;
      svc_trust_store_free(s.stores[slot]);
      s.stores[slot] = nullptr;
      FUZZ_CHECK(CALL(svc_trust_store_new(&s.stores[slot])) == SVC_OK && s.stores[slot], "store_new");
      break;
    }
    case Op::store_add: {
      svc_trust_store* store = s.stores[in.U8() & 1];
      const std::string pem = PemOperand(in, false);
      CALL(svc_trust_store_add_pem(store, pem.data(), pem.size()));
      break;
    }
    case Op::store_load: {
      svc_trust_store* store = s.stores[in.U8() & 1];
      switch (in.U8() % 4) {
        case 0: CALL(svc_trust_store_load_file(store, g_pem.bundle_path.c_str())); break;
        case 1: CALL(svc_trust_store_load_file(store, "/nonexistent/svc-fuzz.pem")); break;
        case 2: CALL(svc_trust_store_load_file(store, nullptr)); break;
        default: CALL(svc_trust_store_load_system(store)); break;
      }
      break;
    }
    case Op::upsert: {
      const uint8_t mode = in.U8() % 3;
      std::optional<std::string> text;
      if (mode == 0) text = UpstreamEntity(in);
      if (mode == 1) text = in.Bytes();
      CALL(svc_upstream_upsert(s.engine, Ptr(text)));
      break;
    }
    case Op::upstream_delete: {
      auto name = in.Str(kUpstreams);
      CALL(svc_upstream_delete(s.engine, Ptr(name)));
      break;
    }
    case Op::target_add: {
      auto up = in.Str(kUpstreams);
      auto target = in.Str(kTargets);
      CALL(svc_target_add(s.engine, Ptr(up), Ptr(target), in.Int()));
      break;
    }
    case Op::target_delete: {
      auto up = in.Str(kUpstreams);
      auto target = in.Str(kTargets);
      CALL(svc_target_delete(s.engine, Ptr(up), Ptr(target)));
      break;
    }
    case Op::target_set_health: {
      auto up = in.Str(kUpstreams);
      auto target = in.Str(kTargets);
      auto address = in.Str(kAddresses);
      CALL(svc_target_set_health(s.engine, Ptr(up), Ptr(target), Ptr(address), in.Int()));
      break;
    }
    case Op::upstream_health: {
      auto up = in.Str(kUpstreams);
      char* out = reinterpret_cast<char*>(&s);  // must be overwritten
      const svc_code c = CALL(svc_upstream_health(s.engine, Ptr(up), &out));
      CheckJsonOut(c, out, "svc_upstream_health");
      break;
    }
    case Op::upstream_get: {
      auto up = in.Str(kUpstreams);
      char* out = reinterpret_cast<char*>(&s);
      const svc_code c = CALL(svc_upstream_get(s.engine, Ptr(up), &out));
      CheckJsonOut(c, out, "svc_upstream_get");
      break;
    }
    case Op::load_config: {
      const uint8_t mode = in.U8() % 4;
      if (mode == 0) {
        const svc_code c = CALL(svc_engine_load_config(s.engine, kBaseConfig, std::strlen(kBaseConfig)));
        if (s.engine) FUZZ_CHECK(c == SVC_OK, "the base config no longer loads");
      } else if (mode == 1) {
        const std::string text = in.Bytes();
        CALL(svc_engine_load_config(s.engine, text.data(), text.size()));
      } else if (mode == 2) {
        FUZZ_CHECK(CALL(svc_engine_load_config(s.engine, "", 0)) != SVC_OK, "empty config accepted");
      } else {
        FUZZ_CHECK(CALL(svc_engine_load_config(s.engine, nullptr, 0)) == SVC_EINVAL, "NULL config");
      }
      break;
    }
    case Op::engine_free:
      svc_engine_free(s.engine);
      s.engine = nullptr;
      s.engine_freed = true;
      break;
    case Op::on_health:
      CALL(svc_engine_on_health(s.engine, in.U8() & 1 ? OnHealth : nullptr, &g_events));
      break;
    case Op::on_log:
      CALL(svc_engine_on_log(s.engine, in.U8() & 1 ? OnLog : nullptr, &g_events));
      break;
    case Op::on_balancer:
      CALL(svc_request_on_balancer(r, in.U8() & 1 ? OnBalancer : nullptr, nullptr));
      break;
    case Op::error_new: {
      const int code_value = in.Int();
      auto message = in.Str(kHashNames);
      svc_error* err = fuzz_error_new(code_value, Ptr(message));
      FUZZ_CHECK(err != nullptr, "svc_error_new returned NULL");
      const int got = fuzz_error_code(err);
      const bool valid = code_value > SVC_OK && code_value <= SVC_ECANCELED;
      FUZZ_CHECK(got == (valid ? code_value : SVC_EINVAL), std::to_string(code_value));
      FUZZ_CHECK(std::strcmp(svc_error_message(err), message ? message->c_str() : "") == 0, "message copy");
      const char* name = fuzz_code_name(code_value);
      if (valid) FUZZ_CHECK(std::strncmp(name, "SVC_E", 5) == 0, name);
      else FUZZ_CHECK(std::strcmp(name, code_value == 0 ? "SVC_OK" : "SVC_UNKNOWN") == 0, name);
      svc_error_free(err);
      break;
    }
    case Op::count:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string dir = SVC_FUZZ_PEM_DIR;
  g_pem.chain = ReadFile(dir + "/chain.pem");
  g_pem.leaf = ReadFile(dir + "/leaf.pem");
  g_pem.rsa_cert = ReadFile(dir + "/rsa.pem");
  g_pem.ed_cert = ReadFile(dir + "/ed25519.pem");
  g_pem.bundle_path = dir + "/ca-bundle.pem";
  g_pem.bundle = ReadFile(g_pem.bundle_path);
  g_pem.key = ReadFile(dir + "/leaf.key");
  g_pem.key_encrypted = ReadFile(dir + "/leaf-pkcs8-encrypted.key");
  g_pem.key_ec_encrypted = ReadFile(dir + "/leaf-ec-encrypted.key");
  g_pem.rsa_key = ReadFile(dir + "/rsa-traditional.key");
  g_pem.ed_key = ReadFile(dir + "/ed25519.key");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State s;
  FUZZ_CHECK(Check(svc_engine_new(&s.engine, kEngineOptions), "svc_engine_new") == SVC_OK, "engine");
  FUZZ_CHECK(Check(svc_engine_load_config(s.engine, kBaseConfig, std::strlen(kBaseConfig)), "load") == SVC_OK,
             "base config");
  FUZZ_CHECK(Check(svc_request_new(&s.request, s.engine), "svc_request_new") == SVC_OK, "request");
  Program in(data, size);
  while (!in.done()) Step(in, s);
  return 0;
}
