#include "engine/request.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "resolve/resolve.h"

namespace svc {
namespace {

constexpr int Bit(Phase p) { return 1 << static_cast<int>(p); }
constexpr int kAccess = Bit(Phase::access);
constexpr int kRewriteAccess = Bit(Phase::rewrite) | Bit(Phase::access);
constexpr int kTlsPhases = Bit(Phase::rewrite) | Bit(Phase::access) | Bit(Phase::balancer);

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// ASCII case-insensitive equality against a lower-case `lower`.
bool NameIs(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(name.begin(), name.end(), lower.begin(),
                    [](unsigned char a, unsigned char b) { return std::tolower(a) == b; });
}

}  // namespace

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::rewrite: return "rewrite";
    case Phase::access: return "access";
    case Phase::balancer: return "balancer";
    case Phase::log: return "log";
  }
  return "unknown";
}

Status CheckTimeout(const char* name, int ms) {
  if (ms >= 1 && ms <= 2147483646) return Status::Ok();
  return Error(Code::invalid, std::string(name) + "_timeout must be an integer between 1 and 2147483646: given " +
                                  std::to_string(ms));
}

Request::Request(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {
  const EngineOptions& o = engine_->options();
  retries_ = o.retries;
  connect_timeout_ms_ = o.connect_timeout_ms;
  write_timeout_ms_ = o.write_timeout_ms;
  read_timeout_ms_ = o.read_timeout_ms;
  scheme_ = o.scheme;
  tls_.verify = o.tls_verify;
}

Request::~Request() { ReleasePending(); }

void Request::ReleasePending() {
  if (pending_ && route_ == Route::upstream && snapshot_) snapshot_->Release(address_);
  pending_ = false;
}

Status Request::CheckPhase(int allowed) const {
  if (allowed & Bit(phase_)) return Status::Ok();
  std::string list;
  for (Phase p : {Phase::rewrite, Phase::access, Phase::balancer, Phase::log}) {
    if (!(allowed & Bit(p))) continue;
    if (!list.empty()) list += ", ";
    list += PhaseName(p);
  }
  return Error(Code::phase, std::string("function cannot be called in ") + PhaseName(phase_) +
                                " phase (only in: " + list + ")");
}

Status Request::SetPhase(Phase p) {
  if (p != Phase::rewrite && p != Phase::access)
    return Error(Code::invalid, "phase must be SVC_PHASE_REWRITE or SVC_PHASE_ACCESS: given " +
                                    std::to_string(static_cast<int>(p)));
  if (tries_ > 0 || (phase_ != Phase::rewrite && phase_ != Phase::access))
    return Error(Code::phase, std::string("the phase can only be set before the first try (now in ") +
                                  PhaseName(phase_) + " phase)");
  phase_ = p;
  return Status::Ok();
}

Status Request::SetUpstream(const char* host) {
  SVC_TRY(CheckPhase(kAccess));
  if (!host || !*host) return Error(Code::invalid, "host must be a string");
  std::shared_ptr<Upstream> up;
  SVC_TRY(engine_->Find(host, &up));
  route_ = Route::upstream;
  upstream_name_ = host;
  upstream_ = std::move(up);
  return Status::Ok();
}

Status Request::SetTarget(const char* host, int port) {
  SVC_TRY(CheckPhase(kAccess));
  if (!host || !*host) return Error(Code::invalid, "host must be a string");
  if (port < 0 || port > 65535)
    return Error(Code::invalid, "port must be an integer between 0 and 65535: given " + std::to_string(port));
  route_ = Route::target;
  target_host_ = host;
  target_port_ = port;
  return Status::Ok();
}

Status Request::SetTlsCertKey(std::shared_ptr<const tls::CertChain> chain,
                              std::shared_ptr<const tls::PrivateKey> key) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (!chain) return Error(Code::invalid, "chain must not be NULL");
  if (!key) return Error(Code::invalid, "key must not be NULL");
  // svc: a key that does not belong to the certificate is an error here,
  // where Kong would drop the override silently at the handshake.
  SVC_TRY(tls::CheckKeyMatchesChain(*chain, *key));
  tls_.chain = std::move(chain);
  tls_.key = std::move(key);
  return Status::Ok();
}

Status Request::SetTlsVerify(bool on) {
  SVC_TRY(CheckPhase(kTlsPhases));
  tls_.verify = on;
  return Status::Ok();
}

Status Request::SetTlsVerifyDepth(int depth) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (depth < 0)
    return Error(Code::invalid, "depth expects a non-negative integer but found " + std::to_string(depth));
  tls_.depth = depth;
  return Status::Ok();
}

Status Request::SetTlsVerifyStore(std::shared_ptr<const tls::TrustStore> store) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (!store) return Error(Code::invalid, "store must not be NULL");
  store->Freeze();  // in use from now on: it may no longer change
  tls_.store = std::move(store);
  return Status::Ok();
}

Status Request::SetRetries(int retries) {
  SVC_TRY(CheckPhase(kAccess));
  if (retries < 0 || retries > 32767)
    return Error(Code::invalid, "retries must be an integer between 0 and 32767: given " + std::to_string(retries));
  retries_ = retries;
  return Status::Ok();
}

Status Request::SetTimeouts(int connect_ms, int write_ms, int read_ms) {
  SVC_TRY(CheckPhase(kAccess));
  SVC_TRY(CheckTimeout("connect", connect_ms));
  SVC_TRY(CheckTimeout("write", write_ms));
  SVC_TRY(CheckTimeout("read", read_ms));
  connect_timeout_ms_ = connect_ms;
  write_timeout_ms_ = write_ms;
  read_timeout_ms_ = read_ms;
  return Status::Ok();
}

Status Request::SetHashKey(const char* key, size_t len) {
  SVC_TRY(CheckPhase(kAccess));
  if (!key && len) return Error(Code::invalid, "key must not be NULL when len is " + std::to_string(len));
  hash_key_ = std::string(key ? key : "", len);
  return Status::Ok();
}

Status Request::SetScheme(const char* scheme) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (!scheme) return Error(Code::invalid, "scheme must be a string");
  const std::string s = scheme;
  if (s != "http" && s != "https" && s != "tcp" && s != "tls")
    return Error(Code::invalid, "invalid scheme: " + s);
  scheme_ = s;
  return Status::Ok();
}

Status Request::SetHashInput(int kind, const char* name, const char* value) {
  SVC_TRY(CheckPhase(kRewriteAccess));
  if (kind < static_cast<int>(HashOn::consumer) || kind > static_cast<int>(HashOn::uri_capture))
    return Error(Code::invalid, "kind must be one of SVC_HASH_CONSUMER .. SVC_HASH_URI_CAPTURE: given " +
                                    std::to_string(kind));
  const HashOn k = static_cast<HashOn>(kind);
  const bool named = k == HashOn::header || k == HashOn::cookie || k == HashOn::query_arg ||
                     k == HashOn::uri_capture;
  if (named && (!name || !*name)) return Error(Code::invalid, "name must be a non-empty string for this kind");
  if (!named && name) return Error(Code::invalid, "name must be NULL for this kind");
  auto set = [value](std::optional<std::string>& slot) {
    if (value) slot = value; else slot.reset();
  };
  switch (k) {
    case HashOn::consumer: set(consumer_); break;
    case HashOn::ip: set(ip_); break;
    case HashOn::path: set(path_); break;
    case HashOn::header:
      // Kong 3.2: several values of one header concatenate with no separator.
      if (value) headers_[Lower(name)] += value; else headers_.erase(Lower(name));
      break;
    case HashOn::cookie:
      if (value) cookies_[name] = value; else cookies_.erase(name);
      break;
    case HashOn::query_arg:
      if (value) query_args_[name].push_back(value); else query_args_.erase(name);
      break;
    case HashOn::uri_capture:
      if (value) uri_captures_[name] = value; else uri_captures_.erase(name);
      break;
  }
  return Status::Ok();
}

std::string Request::HashValue() const {
  if (hash_key_) return *hash_key_;
  if (!upstream_) return "";
  // The entity the current snapshot was built from (or the latest one).
  std::shared_ptr<const config::UpstreamConfig> latest;
  const config::UpstreamConfig* cfg =
      snapshot_ ? static_cast<const config::UpstreamConfig*>(snapshot_->context()) : nullptr;
  if (!cfg) {
    latest = upstream_->config();
    cfg = latest.get();
  }
  if (!cfg) return "";
  // Kong's get_value_to_hash: the primary source, then the fallback, else "".
  auto read = [&](const std::string& on, bool fallback) -> std::optional<std::string> {
    if (on == "consumer") return consumer_;
    if (on == "ip") return ip_;
    if (on == "path") return path_;
    if (on == "header") {
      const auto& name = fallback ? cfg->hash_fallback_header : cfg->hash_on_header;
      if (!name) return std::nullopt;
      auto it = headers_.find(Lower(*name));
      if (it == headers_.end()) return std::nullopt;
      return it->second;
    }
    if (on == "cookie") {
      if (!cfg->hash_on_cookie) return std::nullopt;
      auto it = cookies_.find(*cfg->hash_on_cookie);
      if (it == cookies_.end()) return std::nullopt;
      return it->second;
    }
    if (on == "query_arg") {
      const auto& name = fallback ? cfg->hash_fallback_query_arg : cfg->hash_on_query_arg;
      if (!name) return std::nullopt;
      auto it = query_args_.find(*name);
      if (it == query_args_.end()) return std::nullopt;
      // Kong: several values are sorted and joined with ",".
      std::vector<std::string> v = it->second;
      std::sort(v.begin(), v.end());
      std::string joined;
      for (size_t i = 0; i < v.size(); ++i) joined += (i ? "," : "") + v[i];
      return joined;
    }
    if (on == "uri_capture") {
      const auto& name = fallback ? cfg->hash_fallback_uri_capture : cfg->hash_on_uri_capture;
      if (!name) return std::nullopt;
      auto it = uri_captures_.find(*name);
      if (it == uri_captures_.end()) return std::nullopt;
      return it->second;
    }
    return std::nullopt;
  };
  if (auto v = read(cfg->hash_on, false)) return *v;
  if (auto v = read(cfg->hash_fallback, true)) return *v;
  return "";
}

Status Request::Pick() {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (route_ == Route::none)
    return Error(Code::invalid, "no upstream or target set: call svc_set_upstream or svc_set_target first");
  if (engine_->closed()) return Error(Code::closed, "the engine is closed");
  if (tries_ > retries_)
    return Error(Code::no_peer, "no more tries: " + std::to_string(tries_) + " tries made and retries is " +
                                    std::to_string(retries_));
  // An unreported try counts as finished (its least-connections slot is released).
  ReleasePending();

  if (route_ == Route::target) {
    std::string ip;
    int port = target_port_;
    if (!resolve::IsIpLiteral(target_host_, &ip)) SVC_TRY(engine_->ResolveHost(target_host_, tries_, &ip, &port));
    peer_ip_ = ip;
    peer_port_ = port;
    peer_host_ = target_host_;
    if (!peer_host_.empty() && peer_host_.back() == '.') peer_host_.pop_back();
    picked_ = true;
    pending_ = true;
    ++tries_;
    phase_ = Phase::balancer;
    return Status::Ok();
  }

  // An upstream deleted (or replaced by a reload) since set_upstream: follow the name.
  if (upstream_->deleted()) {
    std::shared_ptr<Upstream> again;
    Status st = engine_->Find(upstream_name_, &again);
    if (!st.ok()) return st;
    upstream_ = std::move(again);
  }
  const uint64_t version = upstream_->version();
  if (!snapshot_ || snapshot_upstream_ != upstream_ || version != snapshot_version_) {
    snapshot_ = upstream_->snapshot();
    snapshot_version_ = version;
    snapshot_upstream_ = upstream_;
  }
  if (!snapshot_->healthy()) {
    // No address at all because names did not resolve: Kong's DNS error.
    if (snapshot_->addresses().empty() &&
        std::any_of(snapshot_->targets().begin(), snapshot_->targets().end(),
                    [](const balance::Target& t) { return t.dns_error; }))
      return Error(Code::dns, "name resolution failed");
    return Error(Code::no_peer, "failure to get a peer from the ring-balancer");
  }
  if (!hash_ready_ && snapshot_->algorithm_name() == "consistent-hashing") {
    hash_value_ = HashValue();
    ctx_.hash_value = hash_value_;
    hash_ready_ = true;
  }
  const int64_t picked = snapshot_->Pick(ctx_);
  if (picked < 0) return Error(Code::no_peer, "failure to get a peer from the ring-balancer");
  address_ = static_cast<uint32_t>(picked);
  const balance::Address& a = snapshot_->addresses()[address_];
  ctx_.AddTried(a.id);
  peer_ip_ = a.ip;
  peer_port_ = a.port;
  peer_host_ = a.peer_host;
  picked_ = true;
  pending_ = true;
  ++tries_;
  phase_ = Phase::balancer;
  return Status::Ok();
}

Status Request::Report(int outcome, int http_status, uint32_t latency_us) {
  if (outcome < 0 || outcome > 3)
    return Error(Code::invalid, "outcome must be one of SVC_OUTCOME_OK, SVC_OUTCOME_HTTP, "
                                "SVC_OUTCOME_TCP_FAILURE, SVC_OUTCOME_TIMEOUT: given " + std::to_string(outcome));
  const auto o = static_cast<Engine::Outcome>(outcome);
  if (o == Engine::Outcome::http && (http_status < 0 || http_status > 999 || (http_status > 0 && http_status < 100)))
    return Error(Code::invalid, "http_status must be 0 (no valid response) or between 100 and 999: given " +
                                    std::to_string(http_status));
  if (!pending_)
    return Error(Code::invalid, "no try to report: call svc_request_pick first");
  pending_ = false;
  if (route_ == Route::upstream) {
    engine_->ReportTry(*snapshot_upstream_, *snapshot_, address_, o, http_status, latency_us / 1e6);
  }
  return Status::Ok();
}

}  // namespace svc

namespace svc {

std::string Request::PoolKey() const {
  std::string key = net::PeerName(peer_ip_, peer_port_);
  if (!tls_scheme()) return "tcp|" + key;
  // svc: the whole TLS policy is part of the key (Kong #13992).
  key = "tls|" + key + "|" + peer_host_ + "|v" + (tls_.verify ? "1" : "0") + "|d" + std::to_string(tls_.depth);
  key += "|s" + (tls_.store ? std::to_string(tls_.store->id()) : std::string("default"));
  key += "|c" + (tls_.chain ? tls_.chain->fingerprint() : std::string("-"));
  key += "|k" + (tls_.key ? tls_.key->fingerprint() : std::string("-"));
  return key;
}

void Request::FailTry(Engine::Outcome outcome) {
  if (!pending_) return;
  pending_ = false;
  if (route_ == Route::upstream && snapshot_upstream_ && snapshot_)
    engine_->ReportTry(*snapshot_upstream_, *snapshot_, address_, outcome, 0, 0);
}

void Request::TryLog::Add(int try_number, const std::string& peer, const Status& st) {
  ++failed;
  if (!history.empty()) history += "; ";
  history += "try " + std::to_string(try_number) + " (" + peer + "): " + st.message();
  last = st;
}

Status Request::TryLog::Finish(const Status& tail) const {
  if (failed == 0) return tail;
  std::string msg = std::to_string(failed) + (failed == 1 ? " try" : " tries") + " failed: " + history;
  if (&tail != &last && !tail.ok()) msg += "; then: " + tail.message();
  return Error(tail.code() == Code::canceled ? Code::canceled : last.code(), msg);
}

Status Request::OpenTry(std::unique_ptr<net::Connection>* conn, double* connect_seconds, TryLog* log,
                        bool* stop) {
  *stop = true;
  if (cancel_.cancelled()) return log->Finish(Error(Code::canceled, "connect cancelled"));
  if (tries_ > retries_) return log->Finish(log->last);
  phase_ = Phase::balancer;
  Status st = Pick();
  if (!st.ok()) return log->Finish(st);
  // The callback sees this try's peer and may change its TLS policy.
  if (balancer_cb_) {
    st = balancer_cb_();
    if (!st.ok()) {
      ReleasePending();
      return Error(st.code(), "balancer callback failed on try " + std::to_string(tries_) + ": " + st.message());
    }
  }
  const std::string key = PoolKey();
  const std::string peer = net::PeerName(peer_ip_, peer_port_);
  *connect_seconds = 0;
  *conn = engine_->pool().Take(key);
  if (*conn) {
    (*conn)->AddUse();
    return Status::Ok();
  }
  const auto started = net::Clock::now();
  net::UniqueFd fd;
  st = net::ConnectTcp(peer_ip_, peer_port_, connect_timeout_ms_, &cancel_, &fd);
  SSL* ssl = nullptr;
  if (st.ok() && tls_scheme()) {
    tls::ClientPolicy policy{tls_.verify, tls_.depth, tls_.chain, tls_.key, tls_.store, peer_host_};
    const net::Deadline deadline = net::Deadline::After(connect_timeout_ms_);
    const int raw = fd.get();
    st = engine_->tls_client().Handshake(
        raw, policy, key, peer,
        [&](short events) {
          return net::Wait(raw, events, deadline, connect_timeout_ms_, &cancel_, net::Op::handshake, peer);
        },
        &ssl);
  }
  if (!st.ok()) {
    if (st.code() == Code::canceled) {
      ReleasePending();
      return log->Finish(st);
    }
    // Kong: a timeout counts as TIMEOUT, anything else (refused, reset,
    // handshake or verification failure) as a TCP failure.
    FailTry(st.code() == Code::timeout ? Engine::Outcome::timeout : Engine::Outcome::tcp_failure);
    log->Add(tries_, peer, st);
    *stop = false;
    return st;
  }
  *connect_seconds = std::chrono::duration<double>(net::Clock::now() - started).count();
  *conn = std::make_unique<net::Connection>(std::move(fd), ssl, key, peer_ip_, peer_port_, peer_host_);
  (*conn)->set_read_spin_us(engine_->options().read_spin_us);
  (*conn)->AddUse();
  return Status::Ok();
}

Status Request::Connect(std::unique_ptr<Lease>* out) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (route_ == Route::none)
    return Error(Code::invalid, "no upstream or target set: call svc_set_upstream or svc_set_target first");
  TryLog log;
  for (;;) {
    std::unique_ptr<net::Connection> conn;
    double connect_seconds = 0;
    bool stop = false;
    Status st = OpenTry(&conn, &connect_seconds, &log, &stop);
    if (!st.ok()) {
      if (!stop) continue;
      phase_ = Phase::log;
      return st;
    }
    // The lease owns the try from here: it reports it when released.
    pending_ = false;
    const bool upstream = route_ == Route::upstream;
    *out = std::make_unique<Lease>(engine_, std::move(conn), upstream ? snapshot_upstream_ : nullptr,
                                   upstream ? snapshot_ : nullptr, address_, write_timeout_ms_, read_timeout_ms_,
                                   connect_seconds);
    phase_ = Phase::log;
    return Status::Ok();
  }
}

Status Request::Send(const std::string& method, const std::string& target, http::Fields headers,
                     std::string_view body, http::Response* response) {
  SVC_TRY(CheckPhase(kTlsPhases));
  if (route_ == Route::none)
    return Error(Code::invalid, "no upstream or target set: call svc_set_upstream or svc_set_target first");
  if (!http::IsToken(method)) return Error(Code::invalid, "method must be an HTTP token: given '" + method + "'");
  if (target.empty() || target.find_first_of(" \r\n\t") != std::string::npos ||
      (target[0] != '/' && target != "*"))
    return Error(Code::invalid, "path must start with '/' and hold no spaces or line breaks: given '" +
                                    target.substr(0, 200) + "'");
  if (method == "TRACE" && !body.empty())
    return Error(Code::invalid, "a TRACE request cannot have a body");  // RFC 9110 §9.3.8
  bool has_host = false;
  for (const auto& [name, value] : headers) {
    SVC_TRY(http::CheckHeader(name, value));
    if (NameIs(name, "host")) has_host = true;
    if (NameIs(name, "content-length") || NameIs(name, "transfer-encoding") || NameIs(name, "connection"))
      return Error(Code::invalid, "header '" + name + "' is managed by svc and cannot be set");
  }
  const http::Limits limits{engine_->options().max_header_bytes, engine_->options().max_body_bytes};
  const bool idempotent = http::Idempotent(method);
  TryLog log;
  for (;;) {
    std::unique_ptr<net::Connection> conn;
    double connect_seconds = 0;
    bool stop = false;
    Status st = OpenTry(&conn, &connect_seconds, &log, &stop);
    if (!st.ok()) {
      if (!stop) continue;
      phase_ = Phase::log;
      return st;
    }
    std::string host;
    if (!has_host) {
      // Kong: the peer's host, with the port unless it is the scheme's default.
      const bool default_port = (scheme_ == "https" || scheme_ == "tls") ? peer_port_ == 443 : peer_port_ == 80;
      host = default_port ? peer_host_ : peer_host_ + ":" + std::to_string(peer_port_);
    }
    const http::Request req{method, target, &headers, host, body};
    const auto started_at = net::Clock::now();
    bool started = false;
    http::Response res;
    {
      std::lock_guard<std::mutex> lock(active_mu_);
      active_ = conn.get();
      if (cancel_.cancelled()) conn->canceller().Cancel();  // a cancel that came just before
    }
    st = http::Exchange(*conn, req, limits, write_timeout_ms_, read_timeout_ms_, &res, &started);
    {
      std::lock_guard<std::mutex> lock(active_mu_);
      active_ = nullptr;
    }
    const double seconds = connect_seconds + std::chrono::duration<double>(net::Clock::now() - started_at).count();
    if (st.ok()) {
      pending_ = false;
      if (route_ == Route::upstream)
        engine_->ReportTry(*snapshot_upstream_, *snapshot_, address_, Engine::Outcome::http, res.status, seconds);
      if (res.keep_alive) engine_->pool().Put(std::move(conn));
      *response = std::move(res);
      phase_ = Phase::log;
      return Status::Ok();
    }
    const std::string peer = net::PeerName(peer_ip_, peer_port_);
    if (st.code() == Code::canceled) {
      // The caller's decision, not the peer's failure: no health report.
      ReleasePending();
      phase_ = Phase::log;
      return log.Finish(Error(Code::canceled, "send to " + peer + " cancelled"));
    }
    const bool timeout = st.code() == Code::timeout;
    FailTry(timeout ? Engine::Outcome::timeout : Engine::Outcome::tcp_failure);
    log.Add(tries_, peer, st);
    conn.reset();
    // Retry only before any byte of the response: on timeouts, and on
    // resets for idempotent methods; never once a response started.
    const bool retry = !started && st.code() != Code::canceled && st.code() != Code::proto &&
                       (timeout || idempotent);
    if (!retry) {
      phase_ = Phase::log;
      return log.Finish(log.last);
    }
  }
}

}  // namespace svc
