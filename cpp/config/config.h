// config: Kong's Upstream and Target entities (schema, defaults, validation
// messages, hash_on shorthands, target normalisation) and Kong's declarative
// format. Pure data and validation; knows nothing of balancers or the C ABI.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace svc::config {

// healthchecks.{active,passive}.healthy
struct HealthyConfig {
  double interval = 0;               // active only; seconds, 0..65535
  std::vector<int> http_statuses;    // 100..999
  int successes = 0;                 // 0..255
};

// healthchecks.{active,passive}.unhealthy
struct UnhealthyConfig {
  double interval = 0;               // active only
  std::vector<int> http_statuses;
  int tcp_failures = 0;              // 0..255
  int timeouts = 0;                  // 0..255
  int http_failures = 0;             // 0..255
};

struct ActiveConfig {
  std::string type = "http";         // tcp | http | https | grpc | grpcs
  double timeout = 1;                // seconds, 0..65535
  int64_t concurrency = 10;          // 1..2^31
  std::string http_path = "/";
  std::optional<std::string> https_sni;
  bool https_verify_certificate = true;
  std::map<std::string, std::vector<std::string>> headers;  // empty = not set
  HealthyConfig healthy;             // defaults: interval 0, [200,302], successes 0
  UnhealthyConfig unhealthy;         // defaults: interval 0, [429,404,500,501,502,503,504,505]
};

struct PassiveConfig {
  std::string type = "http";
  HealthyConfig healthy;             // defaults: [200..208,226,300..308]
  UnhealthyConfig unhealthy;         // defaults: [429,500,503]
};

struct HealthchecksConfig {
  ActiveConfig active;
  PassiveConfig passive;
  double threshold = 0;              // 0..100

  // Kong creates a checker only when one of these is non-zero (reference §5.1).
  bool enabled() const;
};

// A Kong Upstream after shorthands, defaults and validation.
struct UpstreamConfig {
  std::string id;                    // uuid; generated when absent
  int64_t created_at = 0;            // seconds
  std::string name;
  std::string algorithm = "round-robin";  // round-robin | consistent-hashing | least-connections | latency
  std::string hash_on = "none";      // none consumer ip header cookie path query_arg uri_capture
  std::string hash_fallback = "none";
  std::optional<std::string> hash_on_header, hash_fallback_header;
  std::optional<std::string> hash_on_cookie;
  std::string hash_on_cookie_path = "/";
  std::optional<std::string> hash_on_query_arg, hash_fallback_query_arg;
  std::optional<std::string> hash_on_uri_capture, hash_fallback_uri_capture;
  int slots = 10000;                 // 10..65536
  HealthchecksConfig healthchecks;
  std::vector<std::string> tags;
  std::optional<std::string> host_header;
  std::optional<std::string> client_certificate;  // certificate id ({"id": ...} or a string)
  bool use_srv_name = false;
};

// A target string after Kong's normalisation: default port 8000, IPv4
// without leading zeros, IPv6 fully expanded and bracketed.
struct TargetAddress {
  std::string target;   // normalised "host:port" / "[v6]:port", the target's identity
  std::string host;     // "1.2.3.4", "[0000:...:0001]" or "example.test" (trailing dot kept)
  int port = 8000;
  enum class Kind { ipv4, ipv6, name } kind = Kind::name;
};

struct TargetConfig {
  std::string id;                    // uuid; generated when absent
  TargetAddress address;
  int weight = 100;                  // 0..65535
  std::vector<std::string> tags;
  double created_at = 0;             // milliseconds
};

struct UpstreamWithTargets {
  UpstreamConfig upstream;
  std::vector<TargetConfig> targets;
};

// A Certificate entity of the declarative format: what an upstream's
// `client_certificate` refers to (used by active https probes).
struct CertificateConfig {
  std::string id;        // uuid; generated when absent
  std::string cert;      // PEM chain, leaf first
  std::string key;       // PEM private key
};

// Parses and validates one Upstream entity (Kong field names). Applies the
// hash_on shorthands and defaults. Unknown fields and every schema violation
// are Code::config with Kong's message naming the field, e.g.
//   "slots: value should be between 10 and 65536"
//   "name: Invalid name ('a:80'); no port allowed"
// Several violations are joined with "; " in field order.
Status ParseUpstream(const nlohmann::json& entity, UpstreamConfig* out);

// Normalises a target string (reference §3.3). Code::config with
// "target: Invalid target ('<t>'); not a valid hostname or ip address" when
// it cannot be parsed.
Status NormalizeTarget(std::string_view text, TargetAddress* out);

// Validates a weight: Code::config "weight: value should be between 0 and 65535".
Status ValidateWeight(int64_t weight);

// Parses one Target entity ({"target": ..., "weight": ..., "tags": ...}).
Status ParseTarget(const nlohmann::json& entity, TargetConfig* out);

// Kong's declarative format, YAML or JSON (`_format_version` "1.1" to "3.0",
// `upstreams:` each with nested `targets:`). Validates everything; on error
// returns Code::config naming the upstream, the field and the reason, e.g.
//   "upstreams[1] (name 'api'): slots: value should be between 10 and 65536"
// Duplicate upstream names and duplicate targets within an upstream are errors.
Status ParseDeclarative(std::string_view text, std::vector<UpstreamWithTargets>* out);
// The same, also returning the `certificates:` list. An upstream's
// client_certificate must name one of them:
//   "upstreams[0] (name 'api'): client_certificate: invalid reference
//    'client_certificate: <id>' (no such entry in 'certificates')"
Status ParseDeclarative(std::string_view text, std::vector<UpstreamWithTargets>* out,
                        std::vector<CertificateConfig>* certificates);

// The entity as Kong's Admin API would show it (every field, defaults filled).
nlohmann::json UpstreamToJson(const UpstreamConfig& upstream);
nlohmann::json TargetToJson(const TargetConfig& target, const std::string& upstream_id);

// A random RFC 4122 version 4 uuid.
std::string NewUuid();

}  // namespace svc::config
