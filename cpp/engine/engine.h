// engine: owns the upstream registry, each upstream's balancer snapshot and
// health state, and the threads that deliver health and log events.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "balance/balance.h"
#include "common/status.h"
#include "config/config.h"
#include "engine/options.h"
#include "health/health.h"
#include "health/prober.h"
#include "net/connection.h"
#include "resolve/dns.h"
#include "tls/client.h"

namespace svc {

class Engine;

// An upstream's runtime: its entity, targets, per-address health and the
// balancer snapshot that picks read without locks. Writers hold mu_.
class Upstream {
 public:
  explicit Upstream(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  // The current snapshot and its version; a request re-reads the snapshot
  // only when the version moved, so a steady-state pick takes no lock.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  std::shared_ptr<const balance::Snapshot> snapshot() const { return std::atomic_load(&snapshot_); }
  std::shared_ptr<const config::UpstreamConfig> config() const { return std::atomic_load(&config_); }
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }

 private:
  friend class Engine;
  // Health key of an address: Kong keys the checker by (ip, port, hostname).
  static std::string HealthKey(const balance::Address& a) { return a.key() + "|" + a.host; }
  Status BuildSnapshot(const Engine& engine, const config::UpstreamConfig& cfg,
                       const std::vector<config::TargetConfig>& targets,
                       std::shared_ptr<balance::Snapshot>* out) const;
  void Publish(std::shared_ptr<const config::UpstreamConfig> cfg,
               std::vector<config::TargetConfig> targets, std::shared_ptr<balance::Snapshot> snap);
  // What the active prober was made from; a change restarts it.
  static std::string ProbeSignature(const config::UpstreamConfig& cfg);

  const std::string name_;
  mutable std::mutex mu_;  // serialises writers and health reports
  std::shared_ptr<const config::UpstreamConfig> config_;
  std::vector<config::TargetConfig> targets_;               // in creation order
  std::map<std::string, health::AddressHealth> health_;     // by HealthKey; survives rebuilds
  std::shared_ptr<const balance::Snapshot> snapshot_;
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> deleted_{false};
  // Active health checks: the running prober, what it was made from, and a
  // generation that tells reports of a replaced prober apart.
  std::shared_ptr<health::Prober> prober_;
  std::string prober_signature_;
  uint64_t prober_generation_ = 0;
};

// What the engine knows about one target hostname: the last good answer and
// when to ask again (Kong's TTL, stale, not-found and error rules).
struct DnsEntry {
  resolve::Answer good;     // last ok answer; records empty when there is none
  double expires = 0;       // engine time when good's TTL runs out
  double next = 0;          // engine time of the next lookup
  std::string last_error;   // the last failed lookup's message
};

// A client certificate from the declarative `certificates` section, named by
// the id that an upstream's `client_certificate` refers to.
struct Certificate {
  std::shared_ptr<const tls::CertChain> chain;
  std::shared_ptr<const tls::PrivateKey> key;
};

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  using HealthCallback = std::function<void(const std::string& upstream, const std::string& target,
                                            const std::string& address, bool healthy)>;
  using LogCallback = std::function<void(int level, const std::string& message)>;

  // `clock` defaults to a steady clock; tests inject their own.
  static Status Create(EngineOptions options, std::shared_ptr<Engine>* out, Clock clock = {});
  ~Engine();

  // Stops and joins the engine threads (pending events are delivered first).
  // Later operations return Code::closed. Idempotent.
  void Shutdown();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  const EngineOptions& options() const { return options_; }
  net::Pool& pool() { return *pool_; }
  tls::ClientContext& tls_client() { return *tls_client_; }
  double Now() const { return clock_(); }

  Status LoadConfig(std::string_view text);
  Status UpsertUpstream(std::string_view entity_json);
  Status UpsertUpstream(const config::UpstreamConfig& cfg);
  Status DeleteUpstream(const std::string& name);
  Status GetUpstream(const std::string& name, std::string* json) const;
  Status AddTarget(const std::string& upstream, std::string_view target, int64_t weight);
  Status DeleteTarget(const std::string& upstream, std::string_view target);
  // address: "ip:port" (port defaults to 8000) or nullptr for all addresses.
  Status SetTargetHealth(const std::string& upstream, std::string_view target, const char* address,
                         bool healthy);
  Status Health(const std::string& upstream, std::string* json) const;

  // The engine's I/O threads run active probes.
  boost::asio::io_context& io() { return io_; }

  // DNS. Keys are lower-case names without a trailing dot.
  static std::string DnsKey(std::string_view name);
  // The last good answer for a target hostname (no I/O); false when none.
  bool DnsAnswer(const std::string& key, resolve::Answer* out) const;
  // An address of `name` for a request's explicit target: the cached answer,
  // or a lookup on the caller's thread when there is none or it expired.
  // Round-robin over the records by `attempt`; an SRV port replaces `*port`
  // unless it is 0. Code::dns "name resolution failed" (the reason is logged).
  Status ResolveHost(const std::string& name, int attempt, std::string* ip, int* port);

  // Passive health and balancer feedback for one finished try.
  enum class Outcome { ok, http, tcp_failure, timeout };
  void ReportTry(Upstream& up, const balance::Snapshot& snap, uint32_t address, Outcome outcome,
                 int http_status, double latency_s);

  void OnHealth(HealthCallback cb);
  void OnLog(LogCallback cb);
  void Log(int level, std::string message);
  // Whether a log subscriber exists: callers skip building messages otherwise.
  bool logging() const { return logging_.load(std::memory_order_relaxed); }

  // Code::not_found "could not find an Upstream named '<name>'".
  Status Find(const std::string& name, std::shared_ptr<Upstream>* out) const;

  static Status NotFound(const std::string& name) {
    return Error(Code::not_found, "could not find an Upstream named '" + name + "'");
  }

 private:
  Engine(EngineOptions options, Clock clock);
  void Post(std::function<void()> fn);
  void EventLoop();
  // Applies a health change to the snapshot and emits the event when the
  // balancer's view of the address changed. Caller holds up.mu_.
  void ApplyHealth(Upstream& up, const balance::Snapshot& snap, uint32_t address,
                   health::State state);
  Status CheckOpen() const;
  // Starts, keeps or replaces the upstream's active prober after its entity
  // changed. Caller holds up.mu_; a replaced prober is returned to be stopped
  // once the lock is released (its sink takes up.mu_).
  std::shared_ptr<health::Prober> SyncProber(const std::shared_ptr<Upstream>& up);
  // The prober's view of a lane, and where its results land.
  std::vector<health::ProbeTarget> ProbeTargets(Upstream& up, bool healthy_lane);
  void ReportProbe(Upstream& up, uint64_t generation, const health::ProbeTarget& target,
                   const health::ProbeResult& result);
  // Looks up the hostnames among `targets` that were never asked (blocking,
  // outside every upstream lock) so a snapshot build finds their answers.
  void EnsureResolved(const std::vector<config::TargetConfig>& targets);
  // Files one lookup's answer; true when what picks see changed. Caller holds dns_mu_.
  bool StoreAnswer(const std::string& key, resolve::Answer answer, double now);
  // The DNS thread: asks again for names whose time came and rebuilds the
  // snapshots of the upstreams whose answers changed.
  void DnsLoop();
  std::vector<std::string> ReferencedNames() const;
  void RebuildForNames(const std::vector<std::string>& keys);

  EngineOptions options_;
  Clock clock_;
  std::unique_ptr<net::Pool> pool_;
  std::unique_ptr<tls::ClientContext> tls_client_;
  std::atomic<bool> closed_{false};

  // Active probes run here, on options_.io_threads threads.
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_work_;
  std::vector<std::thread> io_threads_;

  // Name resolution (c-ares) and its cache, refreshed by dns_thread_.
  std::unique_ptr<resolve::DnsResolver> dns_;
  mutable std::mutex dns_mu_;
  std::condition_variable dns_cv_;
  std::map<std::string, DnsEntry> dns_cache_;
  bool dns_stop_ = false;
  std::thread dns_thread_;

  // Client certificates by id, from the last loaded declarative config.
  std::map<std::string, Certificate> certificates_;  // guarded by config_mu_

  mutable std::shared_mutex registry_mu_;
  std::map<std::string, std::shared_ptr<Upstream>> upstreams_;
  std::mutex config_mu_;  // serialises whole-config writers (load_config vs upserts)

  // Event delivery: one ordered queue drained by the engine threads.
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::vector<std::function<void()>> events_;
  bool events_stop_ = false;
  std::vector<std::thread> threads_;

  std::mutex callbacks_mu_;
  std::atomic<bool> logging_{false};
  HealthCallback on_health_;
  LogCallback on_log_;
};

}  // namespace svc
