// health prober: an upstream's active health checks (reference §5.4).
// Two lanes: healthy and mostly-healthy addresses are probed every
// `active.healthy.interval`, the others every `active.unhealthy.interval`
// (0 turns a lane off); the first round runs one interval after Start.
// A round probes every address of its lane with at most `concurrency`
// probes in flight. Probes are Asio operations on the engine's I/O threads
// (one strand per prober): a pick never waits for them.
//
// One probe: TCP connect; for `https` a TLS handshake with SNI
// `https_sni`, else the host header, else the target's hostname (none for
// an IP), verified when `https_verify_certificate`, with the upstream's
// client certificate; for `http`/`https` a `GET <http_path> HTTP/1.1` with
// `Connection: close`, the configured headers and the Host header, then
// the status line and headers parsed by Beast. `tcp` probes stop after the
// connect. Each step has `timeout` seconds. A timeout reports TIMEOUT, a
// refused connect, failed handshake or closed connection TCP, a response
// goes by the active status lists (a malformed one counts as status 0).
#pragma once

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.h"
#include "health/health.h"
#include "tls/client.h"

namespace svc::health {

// One address to probe.
struct ProbeTarget {
  std::string ip;    // "10.0.0.1" or "::1"
  int port = 0;
  std::string host;  // Host header: host_header, the target's hostname, or the IP
  std::string sni;   // https_sni, host_header or hostname; empty for an IP
  std::string address;     // the owner's key for the address ("ip:port")
  std::string health_key;  // the owner's key for its health state
};

// What a probe found. `report` is empty when the status is in neither list.
struct ProbeResult {
  std::optional<Report> report;
  int status = 0;       // HTTP status, 0 when none
  std::string detail;   // what happened, for logs: "connect timed out", "status 503"
};

class Prober {
 public:
  struct Settings {
    config::ActiveConfig active;
    std::shared_ptr<const tls::CertChain> chain;  // the upstream's client certificate, if any
    std::shared_ptr<const tls::PrivateKey> key;
    std::shared_ptr<const tls::TrustStore> store;  // null: the engine's default trust
  };
  // The addresses of a lane now (healthy lane: true). Called on an I/O thread.
  using TargetsFn = std::function<std::vector<ProbeTarget>(bool healthy_lane)>;
  // Called on an I/O thread once per finished probe, never after Stop returned.
  using SinkFn = std::function<void(const ProbeTarget&, const ProbeResult&)>;

  Prober(boost::asio::io_context& io, tls::ClientContext& tls, Settings settings, TargetsFn targets,
         SinkFn sink);
  ~Prober();  // stops
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Schedules both lanes. Call once.
  void Start();
  // Cancels the timers and the probes in flight; once it returns, the sink
  // is not called again. Idempotent; must not be called from the sink.
  void Stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace svc::health
