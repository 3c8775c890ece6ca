#include "engine/engine.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <set>

#include <nlohmann/json.hpp>

#include "resolve/resolve.h"
#include <cctype>

namespace svc {
namespace {

using nlohmann::json;

// Kong's bracketed, fully expanded IPv6 text -> the compact form ("::1").
std::string CompactIp(const config::TargetAddress& t) {
  if (t.kind != config::TargetAddress::Kind::ipv6) return t.host;
  std::string inner = t.host.substr(1, t.host.size() - 2);
  in6_addr a6{};
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, inner.c_str(), &a6) == 1 && inet_ntop(AF_INET6, &a6, buf, sizeof buf))
    return buf;
  return inner;
}

const char* OutcomeName(Engine::Outcome o) {
  switch (o) {
    case Engine::Outcome::ok: return "success";
    case Engine::Outcome::http: return "http";
    case Engine::Outcome::tcp_failure: return "tcp failure";
    case Engine::Outcome::timeout: return "timeout";
  }
  return "?";
}

const char* ReportName(health::Report r) {
  switch (r) {
    case health::Report::success: return "SUCCESS";
    case health::Report::http_failure: return "HTTP";
    case health::Report::tcp_failure: return "TCP";
    case health::Report::timeout: return "TIMEOUT";
  }
  return "?";
}

}  // namespace

// ----- Upstream ---------------------------------------------------------

namespace {

// host_header without its port ("[v6]:p" or "name:p").
std::string StripPort(std::string h) {
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close != std::string::npos) h = h.substr(0, close + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string::npos && h.find(':') == colon) {
    h = h.substr(0, colon);
  }
  return h;
}

}  // namespace

Status Upstream::BuildSnapshot(const Engine& engine, const config::UpstreamConfig& cfg,
                               const std::vector<config::TargetConfig>& targets,
                               std::shared_ptr<balance::Snapshot>* out) const {
  std::vector<balance::Target> ts;
  std::vector<balance::Address> as;
  std::vector<bool> available;
  const bool checked = cfg.healthchecks.enabled();
  for (const config::TargetConfig& tc : targets) {
    balance::Target t;
    t.name = tc.address.target;
    t.host = tc.address.host;
    t.port = tc.address.port;
    t.weight = tc.weight;
    t.created_at = tc.created_at;
    const uint32_t ti = static_cast<uint32_t>(ts.size());
    auto add = [&](std::string ip, std::string kong_ip, int port, int weight, const std::string& srv_name) {
      balance::Address a;
      a.ip = std::move(ip);
      a.kong_ip = std::move(kong_ip);
      a.port = port;
      a.host = tc.address.host;
      if (cfg.host_header) {
        a.peer_host = StripPort(*cfg.host_header);
      } else if (cfg.use_srv_name && !srv_name.empty()) {
        a.peer_host = srv_name;  // use_srv_name: the SRV target names the peer
      } else if (tc.address.kind == config::TargetAddress::Kind::name) {
        a.peer_host = tc.address.host;
        if (!a.peer_host.empty() && a.peer_host.back() == '.') a.peer_host.pop_back();
      } else if (tc.address.kind == config::TargetAddress::Kind::ipv6) {
        a.peer_host = "[" + a.ip + "]";
      } else {
        a.peer_host = a.ip;
      }
      a.weight = weight;
      a.target = ti;
      bool on = true;
      if (checked) {
        auto it = health_.find(HealthKey(a));
        if (it != health_.end()) on = health::Available(it->second.state);
      }
      t.addresses.push_back(static_cast<uint32_t>(as.size()));
      as.push_back(std::move(a));
      available.push_back(on);
    };
    if (tc.address.kind == config::TargetAddress::Kind::name) {
      // One address per answer record, from the DNS cache (no I/O here).
      resolve::Answer answer;
      if (!engine.DnsAnswer(Engine::DnsKey(tc.address.host), &answer) || answer.records.empty()) t.dns_error = true;
      const bool srv = answer.type == "SRV";
      for (const resolve::Record& r : answer.records) {
        std::string kong_ip = r.ip;
        if (r.ip.find(':') != std::string::npos) {
          config::TargetAddress v6;
          if (config::NormalizeTarget("[" + r.ip + "]", &v6).ok()) kong_ip = v6.host;
        }
        // SRV: its port (unless 0) and its weight; A/AAAA: the target's. A
        // target of weight 0 stays disabled whatever its records say.
        const int port = srv && r.port > 0 ? r.port : tc.address.port;
        const int weight = tc.weight == 0 ? 0 : srv ? r.weight : tc.weight;
        add(r.ip, kong_ip, port, weight, srv ? r.name : std::string());
      }
    } else {
      add(CompactIp(tc.address), tc.address.host, tc.address.port, tc.weight, std::string());
    }
    ts.push_back(std::move(t));
  }
  return balance::Snapshot::Build(cfg.algorithm, cfg.slots, cfg.healthchecks.threshold, std::move(ts),
                                  std::move(as), available, engine.Now(), out);
}

void Upstream::Publish(std::shared_ptr<const config::UpstreamConfig> cfg,
                       std::vector<config::TargetConfig> targets,
                       std::shared_ptr<balance::Snapshot> snap) {
  snap->set_context(cfg);
  std::atomic_store(&config_, std::move(cfg));
  targets_ = std::move(targets);
  std::atomic_store(&snapshot_, std::shared_ptr<const balance::Snapshot>(std::move(snap)));
  version_.fetch_add(1, std::memory_order_acq_rel);
}

std::string Upstream::ProbeSignature(const config::UpstreamConfig& cfg) {
  const auto& active = cfg.healthchecks.active;
  if (active.healthy.interval <= 0 && active.unhealthy.interval <= 0) return {};
  nlohmann::json j = config::UpstreamToJson(cfg)["healthchecks"]["active"];
  j["client_certificate"] = cfg.client_certificate.value_or("");
  j["host_header"] = cfg.host_header.value_or("");
  return j.dump();
}

// ----- Engine -----------------------------------------------------------

Engine::Engine(EngineOptions options, Clock clock) : options_(std::move(options)), clock_(std::move(clock)) {
  if (!clock_) {
    const auto start = std::chrono::steady_clock::now();
    clock_ = [start] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
  }
}

Status Engine::Create(EngineOptions options, std::shared_ptr<Engine>* out, Clock clock) {
  std::shared_ptr<Engine> e(new Engine(std::move(options), std::move(clock)));
  const EngineOptions& o = e->options_;
  e->pool_ = std::make_unique<net::Pool>(net::PoolOptions{o.pool_size, o.max_requests, o.idle_timeout_s});
  SVC_TRY(tls::ClientContext::Create(o.tls_trust, o.tls_ca_file, o.tls_min_version, &e->tls_client_));
  resolve::DnsOptions dns;
  dns.servers = o.dns_servers;
  // Without dns.servers, $SVC_DNS_SERVERS ("ip[:port],...") before the
  // system's configuration: test suites keep every lookup on loopback.
  if (dns.servers.empty())
    if (const char* env = std::getenv("SVC_DNS_SERVERS"); env && *env) {
      std::string list = env;
      for (size_t start = 0; start <= list.size();) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        if (comma > start) dns.servers.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
    }
  dns.order = o.dns_order;
  Status st = resolve::DnsResolver::Create(dns, &e->dns_);
  if (!st.ok()) return Error(st.code(), "options." + st.message());
  e->dns_thread_ = std::thread([raw = e.get()] { raw->DnsLoop(); });
  // One thread delivers events, so subscribers see them in order.
  e->threads_.emplace_back([raw = e.get()] { raw->EventLoop(); });
  // Active probes run on the I/O threads.
  e->io_work_.emplace(boost::asio::make_work_guard(e->io_));
  for (int i = 0; i < o.io_threads; ++i) e->io_threads_.emplace_back([raw = e.get()] { raw->io_.run(); });
  *out = std::move(e);
  return Status::Ok();
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  // The first caller shuts down; later ones find the engine closed.
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  // Probers first: their results post events.
  std::vector<std::shared_ptr<health::Prober>> probers;
  {
    std::unique_lock<std::shared_mutex> lock(registry_mu_);
    for (auto& [name, up] : upstreams_) {
      std::lock_guard<std::mutex> up_lock(up->mu_);
      if (up->prober_) probers.push_back(std::move(up->prober_));
      up->prober_.reset();
    }
  }
  for (auto& p : probers) p->Stop();
  probers.clear();
  {
    std::lock_guard<std::mutex> lock(dns_mu_);
    dns_stop_ = true;
  }
  dns_cv_.notify_all();
  if (dns_thread_.joinable()) dns_thread_.join();
  io_work_.reset();
  io_.stop();
  for (std::thread& t : io_threads_)
    if (t.joinable()) t.join();
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    events_stop_ = true;
  }
  events_cv_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
  // Idle connections close now; leased ones close when released.
  if (pool_) pool_->Close();
}

void Engine::EventLoop() {
  std::unique_lock<std::mutex> lock(events_mu_);
  for (;;) {
    events_cv_.wait(lock, [this] { return events_stop_ || !events_.empty(); });
    if (events_.empty() && events_stop_) return;
    std::vector<std::function<void()>> batch;
    batch.swap(events_);
    lock.unlock();
    for (auto& fn : batch) {
      try {
        fn();
      } catch (...) {
        // A subscriber's exception must not kill the engine thread.
      }
    }
    lock.lock();
  }
}

void Engine::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    if (events_stop_) return;
    events_.push_back(std::move(fn));
  }
  events_cv_.notify_one();
}

void Engine::OnHealth(HealthCallback cb) {
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  on_health_ = std::move(cb);
}

void Engine::OnLog(LogCallback cb) {
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  logging_.store(static_cast<bool>(cb), std::memory_order_relaxed);
  on_log_ = std::move(cb);
}

void Engine::Log(int level, std::string message) {
  if (!logging()) return;  // nobody listens: no event, no thread wake-up
  Post([this, level, message = std::move(message)] {
    // Held while the callback runs: OnLog returns only once it finished.
    std::lock_guard<std::mutex> lock(callbacks_mu_);
    if (on_log_) on_log_(level, message);
  });
}

Status Engine::CheckOpen() const {
  if (closed()) return Error(Code::closed, "the engine is closed");
  return Status::Ok();
}

Status Engine::Find(const std::string& name, std::shared_ptr<Upstream>* out) const {
  SVC_TRY(CheckOpen());
  std::shared_lock<std::shared_mutex> lock(registry_mu_);
  auto it = upstreams_.find(name);
  if (it == upstreams_.end()) return NotFound(name);
  *out = it->second;
  return Status::Ok();
}

Status Engine::LoadConfig(std::string_view text) {
  SVC_TRY(CheckOpen());
  std::vector<config::UpstreamWithTargets> doc;
  std::vector<config::CertificateConfig> cert_configs;
  SVC_TRY(config::ParseDeclarative(text, &doc, &cert_configs));
  std::map<std::string, Certificate> certificates;
  for (size_t i = 0; i < cert_configs.size(); ++i) {
    const auto& c = cert_configs[i];
    const std::string where = "certificates[" + std::to_string(i) + "]: ";
    Certificate cert;
    Status st = tls::CertChain::ParsePem(c.cert, &cert.chain);
    if (!st.ok()) return Error(Code::config, where + "cert: " + st.message());
    st = tls::PrivateKey::ParsePem(c.key, nullptr, &cert.key);
    if (!st.ok()) return Error(Code::config, where + "key: " + st.message());
    st = tls::CheckKeyMatchesChain(*cert.chain, *cert.key);
    if (!st.ok()) return Error(Code::config, where + st.message());
    certificates[c.id] = std::move(cert);
  }

  std::lock_guard<std::mutex> config_lock(config_mu_);
  for (const auto& entry : doc) EnsureResolved(entry.targets);
  // Build every snapshot first; publish only when all succeeded.
  struct Pending {
    std::shared_ptr<Upstream> up;
    std::shared_ptr<const config::UpstreamConfig> cfg;
    std::vector<config::TargetConfig> targets;
    std::shared_ptr<balance::Snapshot> snap;
  };
  std::vector<Pending> pending;
  std::map<std::string, std::shared_ptr<Upstream>> next;
  {
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    for (auto& entry : doc) {
      const std::string& name = entry.upstream.name;
      auto it = upstreams_.find(name);
      auto up = it != upstreams_.end() ? it->second : std::make_shared<Upstream>(name);
      next[name] = up;
      Pending p{up, std::make_shared<const config::UpstreamConfig>(std::move(entry.upstream)),
                std::move(entry.targets), nullptr};
      std::lock_guard<std::mutex> up_lock(up->mu_);
      Status st = up->BuildSnapshot(*this, *p.cfg, p.targets, &p.snap);
      if (!st.ok())
        return Error(st.code(), "upstreams (name '" + name + "'): " + st.message());
      pending.push_back(std::move(p));
    }
  }
  std::vector<std::shared_ptr<health::Prober>> retired;
  {
    std::unique_lock<std::shared_mutex> lock(registry_mu_);
    certificates_ = std::move(certificates);
    for (auto& [name, up] : upstreams_) {
      if (next.count(name)) continue;
      std::lock_guard<std::mutex> up_lock(up->mu_);
      up->deleted_.store(true, std::memory_order_release);
      if (up->prober_) retired.push_back(std::move(up->prober_));
      up->prober_.reset();
    }
    for (Pending& p : pending) {
      std::lock_guard<std::mutex> up_lock(p.up->mu_);
      p.up->deleted_.store(false, std::memory_order_release);
      p.up->Publish(std::move(p.cfg), std::move(p.targets), std::move(p.snap));
      if (auto old = SyncProber(p.up)) retired.push_back(std::move(old));
    }
    upstreams_ = std::move(next);
  }
  for (auto& p : retired) p->Stop();
  Log(1, "configuration loaded: " + std::to_string(pending.size()) + " upstream(s)");
  return Status::Ok();
}

Status Engine::UpsertUpstream(std::string_view entity_json) {
  json entity = json::parse(entity_json.begin(), entity_json.end(), nullptr, false);
  if (entity.is_discarded())
    return Error(Code::invalid, "upstream entity is not valid JSON: " + std::string(entity_json.substr(0, 200)));
  config::UpstreamConfig cfg;
  SVC_TRY(config::ParseUpstream(entity, &cfg));
  return UpsertUpstream(cfg);
}

Status Engine::UpsertUpstream(const config::UpstreamConfig& cfg_in) {
  SVC_TRY(CheckOpen());
  std::lock_guard<std::mutex> config_lock(config_mu_);
  std::shared_ptr<Upstream> up;
  bool created = false;
  {
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    auto it = upstreams_.find(cfg_in.name);
    if (it != upstreams_.end()) up = it->second;
  }
  if (!up) {
    up = std::make_shared<Upstream>(cfg_in.name);
    created = true;
  }
  if (cfg_in.client_certificate && !certificates_.count(*cfg_in.client_certificate))
    return Error(Code::config, "client_certificate: invalid reference 'client_certificate: " +
                                   *cfg_in.client_certificate + "' (no such entry in 'certificates')");
  std::unique_lock<std::mutex> up_lock(up->mu_);
  auto cfg = std::make_shared<config::UpstreamConfig>(cfg_in);
  // An update keeps the entity's identity.
  if (!created && up->config_) {
    cfg->id = up->config_->id;
    cfg->created_at = up->config_->created_at;
  }
  std::shared_ptr<balance::Snapshot> snap;
  SVC_TRY(up->BuildSnapshot(*this, *cfg, up->targets_, &snap));
  up->Publish(std::move(cfg), up->targets_, std::move(snap));
  auto retired = SyncProber(up);
  up_lock.unlock();
  if (retired) retired->Stop();
  if (created) {
    std::unique_lock<std::shared_mutex> lock(registry_mu_);
    upstreams_[up->name()] = up;
  }
  return Status::Ok();
}

Status Engine::DeleteUpstream(const std::string& name) {
  SVC_TRY(CheckOpen());
  std::lock_guard<std::mutex> config_lock(config_mu_);
  std::unique_lock<std::shared_mutex> lock(registry_mu_);
  auto it = upstreams_.find(name);
  if (it == upstreams_.end()) return NotFound(name);
  std::shared_ptr<health::Prober> retired;
  {
    std::lock_guard<std::mutex> up_lock(it->second->mu_);
    it->second->deleted_.store(true, std::memory_order_release);
    retired = std::move(it->second->prober_);
    it->second->prober_.reset();
  }
  upstreams_.erase(it);
  lock.unlock();
  if (retired) retired->Stop();
  return Status::Ok();
}

Status Engine::GetUpstream(const std::string& name, std::string* out) const {
  std::shared_ptr<Upstream> up;
  SVC_TRY(Find(name, &up));
  std::lock_guard<std::mutex> up_lock(up->mu_);
  json j = config::UpstreamToJson(*up->config_);
  json targets = json::array();
  for (const auto& t : up->targets_) targets.push_back(config::TargetToJson(t, up->config_->id));
  j["targets"] = std::move(targets);
  *out = j.dump();
  return Status::Ok();
}

Status Engine::AddTarget(const std::string& upstream, std::string_view target, int64_t weight) {
  std::shared_ptr<Upstream> up;
  SVC_TRY(Find(upstream, &up));
  config::TargetConfig tc;
  SVC_TRY(config::NormalizeTarget(target, &tc.address));
  SVC_TRY(config::ValidateWeight(weight));
  tc.weight = static_cast<int>(weight);
  tc.id = config::NewUuid();
  std::lock_guard<std::mutex> config_lock(config_mu_);
  EnsureResolved({tc});
  std::lock_guard<std::mutex> up_lock(up->mu_);
  for (const auto& t : up->targets_)
    if (t.address.target == tc.address.target)
      return Error(Code::exists, "target '" + tc.address.target + "' already exists in upstream '" +
                                     upstream + "'");
  tc.created_at = std::chrono::duration<double, std::milli>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  auto targets = up->targets_;
  targets.push_back(tc);
  std::shared_ptr<balance::Snapshot> snap;
  SVC_TRY(up->BuildSnapshot(*this, *up->config_, targets, &snap));
  up->Publish(up->config_, std::move(targets), std::move(snap));
  return Status::Ok();
}

Status Engine::DeleteTarget(const std::string& upstream, std::string_view target) {
  config::TargetAddress addr;
  SVC_TRY(config::NormalizeTarget(target, &addr));
  std::shared_ptr<Upstream> up;
  SVC_TRY(Find(upstream, &up));
  std::lock_guard<std::mutex> config_lock(config_mu_);
  std::lock_guard<std::mutex> up_lock(up->mu_);
  auto targets = up->targets_;
  auto it = std::find_if(targets.begin(), targets.end(),
                         [&](const config::TargetConfig& t) { return t.address.target == addr.target; });
  if (it == targets.end())
    return Error(Code::not_found, "could not find a Target '" + addr.target + "' in Upstream '" + upstream + "'");
  targets.erase(it);
  std::shared_ptr<balance::Snapshot> snap;
  SVC_TRY(up->BuildSnapshot(*this, *up->config_, targets, &snap));
  up->Publish(up->config_, std::move(targets), std::move(snap));
  return Status::Ok();
}

void Engine::ApplyHealth(Upstream& up, const balance::Snapshot& snap, uint32_t i, health::State state) {
  const bool on = health::Available(state);
  // mostly_* states keep the address where it is (Kong).
  if (state != health::State::healthy && state != health::State::unhealthy) return;
  // Apply to the snapshot the pick path reads now (it may be newer than `snap`).
  auto current = up.snapshot();
  const balance::Address& a = snap.addresses()[i];
  bool changed = false;
  if (current) {
    const int64_t j = current->Find(a.key());
    if (j >= 0) changed = current->SetAvailable(static_cast<uint32_t>(j), on, Now());
  }
  if (&snap != current.get()) snap.SetAvailable(i, on, Now());
  if (!changed) return;
  const std::string target = snap.targets()[a.target].name;
  Log(2, std::string(on ? "healthy" : "unhealthy") + " transition of '" + a.host + "(" + a.key() +
             ")' in upstream '" + up.name() + "'");
  Post([this, upstream = up.name(), target, address = a.key(), on] {
    // Held while the callback runs: OnHealth returns only once it finished.
    std::lock_guard<std::mutex> lock(callbacks_mu_);
    if (on_health_) on_health_(upstream, target, address, on);
  });
}

void Engine::ReportTry(Upstream& up, const balance::Snapshot& snap, uint32_t i, Outcome outcome,
                       int http_status, double latency_s) {
  snap.Release(i);
  if ((outcome == Outcome::ok || outcome == Outcome::http) && snap.records_latency())
    snap.Record(i, latency_s, Now());

  const auto* cfg = static_cast<const config::UpstreamConfig*>(snap.context());
  if (!cfg || !cfg->healthchecks.enabled() || closed()) return;
  std::optional<health::Report> report;
  switch (outcome) {
    case Outcome::ok: report = health::Report::success; break;
    case Outcome::http:
      report = health::ClassifyStatus(cfg->healthchecks, health::Mode::passive, http_status);
      break;
    case Outcome::tcp_failure: report = health::Report::tcp_failure; break;
    case Outcome::timeout: report = health::Report::timeout; break;
  }
  const balance::Address& a = snap.addresses()[i];
  if (!report) {
    if (logging())
      Log(0, "status " + std::to_string(http_status) + " from '" + a.host + "(" + a.key() +
                 ")' is in neither passive list: ignored");
    return;
  }
  std::lock_guard<std::mutex> lock(up.mu_);
  if (up.deleted()) return;
  health::AddressHealth& h = up.health_[Upstream::HealthKey(a)];
  auto changed = health::Apply(cfg->healthchecks, health::Mode::passive, *report, &h);
  if (logging())
    Log(0, std::string("passive ") + OutcomeName(outcome) + " report (" + ReportName(*report) +
               ") for '" + a.host + "(" + a.key() + ")': now " + health::StateName(h.state));
  if (changed) ApplyHealth(up, snap, i, *changed);
}

std::shared_ptr<health::Prober> Engine::SyncProber(const std::shared_ptr<Upstream>& up) {
  const config::UpstreamConfig& cfg = *up->config_;
  std::string signature = Upstream::ProbeSignature(cfg);
  // A reload may give the same certificate id new material.
  if (!signature.empty() && cfg.client_certificate) {
    auto it = certificates_.find(*cfg.client_certificate);
    if (it != certificates_.end()) signature += "|" + it->second.key->fingerprint();
  }
  if (signature == up->prober_signature_ && (up->prober_ || signature.empty())) return nullptr;
  std::shared_ptr<health::Prober> retired = std::move(up->prober_);
  up->prober_.reset();
  up->prober_signature_ = signature;
  const uint64_t generation = ++up->prober_generation_;
  if (signature.empty() || closed()) return retired;

  health::Prober::Settings settings;
  settings.active = cfg.healthchecks.active;
  if (cfg.client_certificate) {
    auto it = certificates_.find(*cfg.client_certificate);
    if (it != certificates_.end()) {
      settings.chain = it->second.chain;
      settings.key = it->second.key;
    }
  }
  std::weak_ptr<Upstream> weak = up;
  up->prober_ = std::make_shared<health::Prober>(
      io_, *tls_client_, std::move(settings),
      [this, weak](bool healthy_lane) {
        auto strong = weak.lock();
        return strong ? ProbeTargets(*strong, healthy_lane) : std::vector<health::ProbeTarget>{};
      },
      [this, weak, generation](const health::ProbeTarget& target, const health::ProbeResult& result) {
        if (auto strong = weak.lock()) ReportProbe(*strong, generation, target, result);
      });
  up->prober_->Start();
  Log(1, "active health checks (" + cfg.healthchecks.active.type + ") started for upstream '" + up->name() + "'");
  return retired;
}

std::vector<health::ProbeTarget> Engine::ProbeTargets(Upstream& up, bool healthy_lane) {
  std::lock_guard<std::mutex> lock(up.mu_);
  std::vector<health::ProbeTarget> out;
  if (up.deleted() || !up.config_) return out;
  auto snap = up.snapshot();
  const config::UpstreamConfig& cfg = *up.config_;
  for (const balance::Address& a : snap->addresses()) {
    if (a.weight == 0) continue;  // Kong never adds weight-0 addresses to the checker
    const std::string key = Upstream::HealthKey(a);
    auto it = up.health_.find(key);
    const bool healthy = it == up.health_.end() || health::Available(it->second.state);
    if (healthy != healthy_lane) continue;
    health::ProbeTarget t;
    t.ip = a.ip;
    t.port = a.port;
    // Host header: host_header, else the hostname, else the IP (Kong).
    t.host = cfg.host_header ? *cfg.host_header : a.peer_host;
    // SNI: https_sni, else host_header, else the hostname; none for an IP (Kong #6333 fixed).
    t.sni = cfg.healthchecks.active.https_sni ? *cfg.healthchecks.active.https_sni : a.peer_host;
    t.address = a.key();
    t.health_key = key;
    out.push_back(std::move(t));
  }
  return out;
}

void Engine::ReportProbe(Upstream& up, uint64_t generation, const health::ProbeTarget& target,
                         const health::ProbeResult& result) {
  std::lock_guard<std::mutex> lock(up.mu_);
  if (up.deleted() || generation != up.prober_generation_ || !up.config_) return;
  auto snap = up.snapshot();
  const int64_t i = snap->Find(target.address);
  if (i < 0) return;  // the address left while it was probed
  const balance::Address& a = snap->addresses()[static_cast<size_t>(i)];
  if (!result.report) {
    if (logging())
      Log(0, "active probe of '" + a.host + "(" + target.address + ")': " + result.detail +
                 " is in neither active list: ignored");
    return;
  }
  health::AddressHealth& h = up.health_[target.health_key];
  auto changed = health::Apply(up.config_->healthchecks, health::Mode::active, *result.report, &h);
  if (logging())
    Log(0, "active probe of '" + a.host + "(" + target.address + ")': " + result.detail + " (" +
               ReportName(*result.report) + "), now " + health::StateName(h.state));
  if (changed) ApplyHealth(up, *snap, static_cast<uint32_t>(i), *changed);
}

// ----- DNS ----------------------------------------------------------------

std::string Engine::DnsKey(std::string_view name) {
  std::string key(name);
  if (!key.empty() && key.back() == '.') key.pop_back();
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}

bool Engine::DnsAnswer(const std::string& key, resolve::Answer* out) const {
  std::lock_guard<std::mutex> lock(dns_mu_);
  auto it = dns_cache_.find(key);
  if (it == dns_cache_.end() || it->second.good.records.empty()) return false;
  *out = it->second.good;
  return true;
}

bool Engine::StoreAnswer(const std::string& key, resolve::Answer answer, double now) {
  DnsEntry& e = dns_cache_[key];
  auto same = [](const resolve::Answer& a, const resolve::Answer& b) {
    if (a.type != b.type || a.records.size() != b.records.size()) return false;
    for (size_t i = 0; i < a.records.size(); ++i) {
      const auto &x = a.records[i], &y = b.records[i];
      if (x.ip != y.ip || x.port != y.port || x.weight != y.weight || x.name != y.name) return false;
    }
    return true;
  };
  const resolve::Answer before = e.good;
  switch (answer.kind) {
    case resolve::Answer::Kind::ok:
      // Kong renews half a second after the TTL ran out.
      e.expires = now + answer.ttl_s;
      e.next = e.expires + 0.5;
      e.last_error.clear();
      e.good = std::move(answer);
      break;
    case resolve::Answer::Kind::not_found:
      // The name is gone: its addresses go; ask again after not_found_ttl.
      e.good = resolve::Answer{};
      e.next = now + options_.dns_not_found_ttl;
      e.last_error = answer.message;
      break;
    case resolve::Answer::Kind::error:
      // The servers failed: the last good answer stays in use for stale_ttl
      // past its TTL, and we ask again every error_ttl.
      if (now > e.expires + options_.dns_stale_ttl) e.good = resolve::Answer{};
      e.next = now + std::max(options_.dns_error_ttl, 0.1);
      e.last_error = answer.message;
      break;
  }
  return !same(before, e.good);
}

void Engine::EnsureResolved(const std::vector<config::TargetConfig>& targets) {
  std::vector<std::string> missing;
  {
    std::lock_guard<std::mutex> lock(dns_mu_);
    for (const auto& t : targets) {
      if (t.address.kind != config::TargetAddress::Kind::name) continue;
      std::string key = DnsKey(t.address.host);
      if (!dns_cache_.count(key) && std::find(missing.begin(), missing.end(), key) == missing.end())
        missing.push_back(std::move(key));
    }
  }
  if (missing.empty()) return;
  std::vector<resolve::Answer> answers = dns_->ResolveAll(missing);
  const double now = Now();
  std::lock_guard<std::mutex> lock(dns_mu_);
  for (size_t i = 0; i < missing.size(); ++i) {
    if (answers[i].kind != resolve::Answer::Kind::ok)
      Log(3, "dns: '" + missing[i] + "' did not resolve: " + answers[i].message);
    StoreAnswer(missing[i], std::move(answers[i]), now);
  }
  dns_cv_.notify_all();  // the DNS thread may now sleep until a nearer refresh
}

Status Engine::ResolveHost(const std::string& name, int attempt, std::string* ip, int* port) {
  const std::string key = DnsKey(name);
  resolve::Answer answer;
  bool fresh = false;
  {
    std::lock_guard<std::mutex> lock(dns_mu_);
    auto it = dns_cache_.find(key);
    if (it != dns_cache_.end() && !it->second.good.records.empty()) {
      answer = it->second.good;
      fresh = Now() <= it->second.expires + options_.dns_stale_ttl;
    }
  }
  if (!fresh) {
    resolve::Answer asked = dns_->Resolve(key);
    if (asked.kind != resolve::Answer::Kind::ok) Log(3, "dns: '" + key + "' did not resolve: " + asked.message);
    std::lock_guard<std::mutex> lock(dns_mu_);
    StoreAnswer(key, std::move(asked), Now());
    answer = dns_cache_[key].good;
  }
  if (answer.records.empty()) return Error(Code::dns, "name resolution failed");
  const resolve::Record& r = answer.records[static_cast<size_t>(attempt) % answer.records.size()];
  *ip = r.ip;
  if (answer.type == "SRV" && r.port > 0) *port = r.port;
  return Status::Ok();
}

std::vector<std::string> Engine::ReferencedNames() const {
  std::vector<std::string> names;
  std::shared_lock<std::shared_mutex> lock(registry_mu_);
  for (const auto& [name, up] : upstreams_) {
    std::lock_guard<std::mutex> up_lock(up->mu_);
    for (const auto& t : up->targets_)
      if (t.address.kind == config::TargetAddress::Kind::name) names.push_back(DnsKey(t.address.host));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void Engine::DnsLoop() {
  for (;;) {
    const std::vector<std::string> names = ReferencedNames();
    const double now = Now();
    double wake = now + 1.0;  // look for new names at least every second
    std::vector<std::string> due;
    {
      std::unique_lock<std::mutex> lock(dns_mu_);
      if (dns_stop_) return;
      for (const std::string& n : names) {
        auto it = dns_cache_.find(n);
        if (it == dns_cache_.end() || it->second.next <= now) {
          due.push_back(n);
        } else {
          wake = std::min(wake, it->second.next);
        }
      }
      if (due.empty()) {
        dns_cv_.wait_for(lock, std::chrono::duration<double>(std::max(0.01, wake - now)));
        if (dns_stop_) return;
        continue;
      }
    }
    std::vector<resolve::Answer> answers = dns_->ResolveAll(due);
    std::vector<std::string> changed;
    {
      std::lock_guard<std::mutex> lock(dns_mu_);
      if (dns_stop_) return;
      const double at = Now();
      for (size_t i = 0; i < due.size(); ++i) {
        if (answers[i].kind != resolve::Answer::Kind::ok && logging())
          Log(2, "dns: '" + due[i] + "' did not resolve: " + answers[i].message);
        if (StoreAnswer(due[i], std::move(answers[i]), at)) changed.push_back(due[i]);
      }
    }
    if (!changed.empty()) RebuildForNames(changed);
  }
}

void Engine::RebuildForNames(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> config_lock(config_mu_);
  std::vector<std::shared_ptr<Upstream>> ups;
  {
    std::shared_lock<std::shared_mutex> lock(registry_mu_);
    for (const auto& [name, up] : upstreams_) ups.push_back(up);
  }
  for (const auto& up : ups) {
    std::lock_guard<std::mutex> up_lock(up->mu_);
    if (up->deleted() || !up->config_) continue;
    const bool uses = std::any_of(up->targets_.begin(), up->targets_.end(), [&](const config::TargetConfig& t) {
      return t.address.kind == config::TargetAddress::Kind::name &&
             std::find(keys.begin(), keys.end(), DnsKey(t.address.host)) != keys.end();
    });
    if (!uses) continue;
    std::shared_ptr<balance::Snapshot> snap;
    Status st = up->BuildSnapshot(*this, *up->config_, up->targets_, &snap);
    if (!st.ok()) {
      Log(3, "dns: cannot rebuild upstream '" + up->name() + "': " + st.message());
      continue;
    }
    up->Publish(up->config_, up->targets_, std::move(snap));
    Log(1, "dns: upstream '" + up->name() + "' rebuilt with new answers (" +
               std::to_string(up->snapshot()->addresses().size()) + " addresses)");
  }
}

Status Engine::SetTargetHealth(const std::string& upstream, std::string_view target,
                               const char* address, bool healthy) {
  config::TargetAddress taddr;
  SVC_TRY(config::NormalizeTarget(target, &taddr));
  std::shared_ptr<Upstream> up;
  SVC_TRY(Find(upstream, &up));
  std::lock_guard<std::mutex> lock(up->mu_);
  auto snap = up->snapshot();
  const balance::Target* t = nullptr;
  for (const auto& candidate : snap->targets())
    if (candidate.name == taddr.target) t = &candidate;
  if (!t)
    return Error(Code::not_found, "could not find a Target '" + taddr.target + "' in Upstream '" + upstream + "'");
  if (!up->config_->healthchecks.enabled())
    return Error(Code::invalid, "no healthchecker found for " + upstream);

  std::vector<uint32_t> which;
  if (address) {
    config::TargetAddress aaddr;
    Status st = config::NormalizeTarget(address, &aaddr);
    if (!st.ok() || aaddr.kind == config::TargetAddress::Kind::name)
      return Error(Code::invalid, std::string("address must be an IP with an optional port: given '") + address + "'");
    for (uint32_t i : t->addresses)
      if (snap->addresses()[i].key() == aaddr.target) which.push_back(i);
    if (which.empty())
      return Error(Code::not_found, "could not find the address '" + aaddr.target + "' of Target '" +
                                        taddr.target + "' in Upstream '" + upstream + "'");
  } else {
    which = t->addresses;
  }
  for (uint32_t i : which) {
    const balance::Address& a = snap->addresses()[i];
    if (a.weight == 0) continue;  // Kong never adds weight-0 addresses to the checker
    health::AddressHealth& h = up->health_[Upstream::HealthKey(a)];
    health::Force(healthy, &h);
    Log(2, std::string(healthy ? "healthy" : "unhealthy") + " forced for " + a.host + " " + a.key());
    ApplyHealth(*up, *snap, i, h.state);
  }
  return Status::Ok();
}

Status Engine::Health(const std::string& upstream, std::string* out) const {
  using json = nlohmann::ordered_json;  // Kong's field order
  std::shared_ptr<Upstream> up;
  SVC_TRY(Find(upstream, &up));
  std::lock_guard<std::mutex> lock(up->mu_);
  auto snap = up->snapshot();
  const auto& cfg = *up->config_;
  const bool checked = cfg.healthchecks.enabled();
  json data = json::array();
  for (const auto& t : snap->targets()) {
    json addrs = json::array();
    bool any_healthy = false;
    for (uint32_t i : t.addresses) {
      const auto& a = snap->addresses()[i];
      const char* h = "HEALTHCHECKS_OFF";
      if (checked && a.weight > 0) {
        h = snap->available(i) ? "HEALTHY" : "UNHEALTHY";
        any_healthy = any_healthy || snap->available(i);
      }
      addrs.push_back({{"ip", a.ip}, {"port", a.port}, {"health", h}, {"weight", a.weight}});
    }
    const char* th = "HEALTHCHECKS_OFF";
    if (t.dns_error || t.addresses.empty()) {
      th = "DNS_ERROR";
    } else if (checked && t.weight > 0) {
      th = any_healthy ? "HEALTHY" : "UNHEALTHY";
    }
    data.push_back({{"target", t.name}, {"weight", t.weight}, {"health", th},
                    {"data", {{"addresses", std::move(addrs)}}}});
  }
  const int64_t total = snap->total_weight();
  const int64_t unavailable = snap->unavailable_weight();
  json j = {{"id", cfg.id},
            {"name", cfg.name},
            {"algorithm", snap->algorithm_name()},
            {"health", !checked ? "HEALTHCHECKS_OFF" : snap->healthy() ? "HEALTHY" : "UNHEALTHY"},
            {"weight", {{"total", total}, {"available", total - unavailable}, {"unavailable", unavailable}}},
            {"data", std::move(data)}};
  *out = j.dump();
  return Status::Ok();
}

}  // namespace svc
