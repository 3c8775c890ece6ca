// Engine options: svc_engine_new's JSON, every key optional, unknown keys rejected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace svc {

struct EngineOptions {
  int io_threads = 1;
  std::string scheme = "http";
  int retries = 5;
  int connect_timeout_ms = 60000, write_timeout_ms = 60000, read_timeout_ms = 60000;
  bool tls_verify = true;
  std::string tls_trust = "system";      // system | none
  std::string tls_ca_file;               // PEM CAs trusted besides `trust` (requests without a store, probes)
  std::string tls_min_version = "1.2";   // 1.2 | 1.3
  int pool_size = 60, max_requests = 100;
  double idle_timeout_s = 60;
  int read_spin_us = 100;                // net::Connection::set_read_spin_us; 0 = never spin
  std::vector<std::string> dns_servers;  // empty = the system's configuration
  std::vector<std::string> dns_order{"LAST", "SRV", "A", "CNAME"};
  double dns_stale_ttl = 4, dns_not_found_ttl = 30, dns_error_ttl = 1;
  int64_t max_header_bytes = 65536, max_body_bytes = 67108864;
  uint64_t seed = 0;
};

// Parses options JSON (NULL/empty = defaults). Code::invalid naming the key:
//   "options: unknown key 'foo'", "options.timeouts.connect: expected an integer
//   between 1 and 2147483646, given 0".
Status ParseEngineOptions(std::string_view json, EngineOptions* out);

}  // namespace svc
