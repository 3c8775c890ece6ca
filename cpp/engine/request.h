// request: one proxied request's context after Kong's balancer_data: phase,
// upstream or explicit target, TLS policy, retries and timeouts, hash inputs
// and the tries made so far. Used by one thread at a time.
#pragma once

#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balance/balance.h"
#include "common/status.h"
#include "engine/engine.h"
#include "engine/lease.h"
#include "http/http.h"
#include "net/net.h"
#include "tls/tls.h"

namespace svc {

enum class Phase { rewrite = 1, access = 2, balancer = 3, log = 4 };
const char* PhaseName(Phase p);

// Kong's set_timeouts rule for one value: "<name>_timeout must be an integer
// between 1 and 2147483646: given <ms>".
Status CheckTimeout(const char* name, int ms);

enum class HashOn { consumer = 1, ip, header, cookie, path, query_arg, uri_capture };

// The TLS policy a try's connection is made under.
struct TlsPolicy {
  bool verify = true;
  int depth = -1;  // -1: OpenSSL's default
  std::shared_ptr<const tls::CertChain> chain;
  std::shared_ptr<const tls::PrivateKey> key;
  std::shared_ptr<const tls::TrustStore> store;  // null: the engine's default
};

class Request {
 public:
  explicit Request(std::shared_ptr<Engine> engine);
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  Status SetPhase(Phase p);
  Phase phase() const { return phase_; }

  // kong.service.* (Kong's phase rules and messages).
  Status SetUpstream(const char* host);
  Status SetTarget(const char* host, int port);
  Status SetTlsCertKey(std::shared_ptr<const tls::CertChain> chain,
                       std::shared_ptr<const tls::PrivateKey> key);
  Status SetTlsVerify(bool on);
  Status SetTlsVerifyDepth(int depth);
  Status SetTlsVerifyStore(std::shared_ptr<const tls::TrustStore> store);
  Status SetRetries(int retries);
  Status SetTimeouts(int connect_ms, int write_ms, int read_ms);
  Status SetHashKey(const char* key, size_t len);
  Status SetScheme(const char* scheme);
  const std::string& scheme() const { return scheme_; }
  Status SetHashInput(int kind, const char* name, const char* value);

  // Connect mode: pick, connect, handshake, with retries; a pooled
  // connection when one fits the peer and the whole TLS policy.
  using BalancerCallback = std::function<Status()>;
  void SetBalancerCallback(BalancerCallback cb) { balancer_cb_ = std::move(cb); }
  Status Connect(std::unique_ptr<Lease>* out);
  // Send mode: one HTTP/1.1 exchange with retries, pooling and passive
  // health (each try reports its HTTP status).
  Status Send(const std::string& method, const std::string& target, http::Fields headers,
              std::string_view body, http::Response* response);
  // Interrupts a blocked Connect or Send from another thread (sticky).
  void Cancel() {
    cancel_.Cancel();
    std::lock_guard<std::mutex> lock(active_mu_);
    if (active_) active_->canceller().Cancel();
  }
  // The pool key of the current peer under the current TLS policy.
  std::string PoolKey() const;
  bool tls_scheme() const { return scheme_ == "https" || scheme_ == "tls"; }

  // Pick mode.
  Status Pick();
  Status Report(int outcome, int http_status, uint32_t latency_us);
  const std::string* peer_ip() const { return picked_ ? &peer_ip_ : nullptr; }
  int peer_port() const { return picked_ ? peer_port_ : 0; }
  const std::string* peer_host() const { return picked_ ? &peer_host_ : nullptr; }
  int tries() const { return tries_; }

  int retries() const { return retries_; }
  int connect_timeout_ms() const { return connect_timeout_ms_; }
  int write_timeout_ms() const { return write_timeout_ms_; }
  int read_timeout_ms() const { return read_timeout_ms_; }
  const TlsPolicy& tls() const { return tls_; }
  // The consistent-hashing input Kong would use (computed on the first try).
  std::string HashValue() const;

 private:
  Status CheckPhase(int allowed_mask) const;
  void ReleasePending();
  // Reports the pending try (connect mode's failed tries).
  void FailTry(Engine::Outcome outcome);

  // What the tries of one connect or send did, for the final error.
  struct TryLog {
    int failed = 0;
    std::string history;
    Status last;
    void Add(int try_number, const std::string& peer, const Status& st);
    Status Finish(const Status& tail) const;
  };
  // Picks the next try's peer, runs the balancer callback and opens (or
  // takes from the pool) its connection. On a failed try that may be retried
  // returns its error with *stop false; otherwise *stop is true and the
  // error is final (it lists the tries).
  Status OpenTry(std::unique_ptr<net::Connection>* conn, double* connect_seconds, TryLog* log, bool* stop);

  BalancerCallback balancer_cb_;
  net::Canceller cancel_;
  std::mutex active_mu_;
  net::Connection* active_ = nullptr;  // the connection a Send is using

  std::shared_ptr<Engine> engine_;
  Phase phase_ = Phase::access;

  enum class Route { none, upstream, target } route_ = Route::none;
  std::string upstream_name_;
  std::shared_ptr<Upstream> upstream_;
  std::string target_host_;
  int target_port_ = 0;

  int retries_;
  int connect_timeout_ms_, write_timeout_ms_, read_timeout_ms_;
  std::string scheme_;
  TlsPolicy tls_;

  std::optional<std::string> hash_key_;
  std::optional<std::string> consumer_, ip_, path_;
  std::map<std::string, std::string> headers_;  // lowercase name -> values concatenated
  std::map<std::string, std::string> cookies_;
  std::map<std::string, std::vector<std::string>> query_args_;
  std::map<std::string, std::string> uri_captures_;

  // Tries.
  int tries_ = 0;
  bool picked_ = false;
  bool pending_ = false;  // a try picked and not reported yet
  std::shared_ptr<const balance::Snapshot> snapshot_;
  uint64_t snapshot_version_ = 0;
  std::shared_ptr<Upstream> snapshot_upstream_;
  uint32_t address_ = 0;
  balance::PickContext ctx_;
  std::string hash_value_;
  bool hash_ready_ = false;
  std::string peer_ip_, peer_host_;
  int peer_port_ = 0;
};

}  // namespace svc
