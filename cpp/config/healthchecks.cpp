// The upstream's `healthchecks` record: Kong's tree, defaults, ranges and messages
// (kong/db/schema/entities/upstreams.lua, Kong 3.2).
#include <algorithm>

#include "config/schema.h"

namespace svc::config {

bool HealthchecksConfig::enabled() const {
  // Kong (balancer/healthcheckers.lua): a checker exists only if one of these is non-zero.
  return active.healthy.interval != 0 || active.unhealthy.interval != 0 ||
         passive.unhealthy.tcp_failures != 0 || passive.unhealthy.timeouts != 0 ||
         passive.unhealthy.http_failures != 0;
}

namespace schema {

namespace {

constexpr double kSecondsMax = 65535;
constexpr int64_t kCounterMax = 255;            // Kong 3.x: one_byte_integer
constexpr int64_t kConcurrencyMax = 2147483648;  // 2^31

// Kong's defaults (they differ from lua-resty-healthcheck's own).
const std::vector<int> kActiveHealthy = {200, 302};
const std::vector<int> kActiveUnhealthy = {429, 404, 500, 501, 502, 503, 504, 505};
const std::vector<int> kPassiveHealthy = {200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                          300, 301, 302, 303, 304, 305, 306, 307, 308};
const std::vector<int> kPassiveUnhealthy = {429, 500, 503};

// Returns the member, or nullptr when it is absent or null (null = not set).
const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Records every key of `obj` that is not in `known` as an unknown field.
void RejectUnknown(const json& obj, const std::string& path, const std::vector<std::string>& known,
                   Errors* errs) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      errs->Field(Join(path, it.key()), "unknown field");
    }
  }
}

bool IsRecord(const json& v, const std::string& path, Errors* errs) {
  if (v.is_object()) return true;
  errs->Field(path, "expected a record");
  return false;
}

void ReadStatuses(const json& v, const std::string& path, Errors* errs, std::vector<int>* out) {
  if (!v.is_array()) {
    errs->Field(path, "expected an array");
    return;
  }
  std::vector<int> statuses;
  for (const auto& e : v) {
    int64_t s = 0;
    if (!ReadInteger(e, path, errs, 100, 999, &s)) return;
    statuses.push_back(static_cast<int>(s));
  }
  *out = std::move(statuses);
}

void ReadCounter(const json& obj, const char* key, const std::string& path, Errors* errs, int* out) {
  if (const json* v = Member(obj, key)) {
    int64_t n = 0;
    if (ReadInteger(*v, Join(path, key), errs, 0, kCounterMax, &n)) *out = static_cast<int>(n);
  }
}

void ReadSeconds(const json& obj, const char* key, const std::string& path, Errors* errs, double* out) {
  if (const json* v = Member(obj, key)) ReadNumber(*v, Join(path, key), errs, 0, kSecondsMax, out);
}

void ReadCheckType(const json& obj, const std::string& path, Errors* errs, std::string* out) {
  const json* v = Member(obj, "type");
  if (!v) return;
  static const std::vector<std::string> kTypes = {"tcp", "http", "https", "grpc", "grpcs"};
  std::string p = Join(path, "type"), s;
  if (!ReadString(*v, p, errs, &s)) return;
  if (std::find(kTypes.begin(), kTypes.end(), s) == kTypes.end()) {
    errs->Field(p, OneOf(kTypes));
    return;
  }
  *out = s;
}

void ReadHealthy(const json& v, const std::string& path, bool active, Errors* errs, HealthyConfig* out) {
  if (!IsRecord(v, path, errs)) return;
  if (active) ReadSeconds(v, "interval", path, errs, &out->interval);
  if (const json* s = Member(v, "http_statuses")) ReadStatuses(*s, Join(path, "http_statuses"), errs, &out->http_statuses);
  ReadCounter(v, "successes", path, errs, &out->successes);
  if (active) {
    RejectUnknown(v, path, {"interval", "http_statuses", "successes"}, errs);
  } else {
    RejectUnknown(v, path, {"http_statuses", "successes"}, errs);
  }
}

void ReadUnhealthy(const json& v, const std::string& path, bool active, Errors* errs,
                   UnhealthyConfig* out) {
  if (!IsRecord(v, path, errs)) return;
  if (active) ReadSeconds(v, "interval", path, errs, &out->interval);
  if (const json* s = Member(v, "http_statuses")) ReadStatuses(*s, Join(path, "http_statuses"), errs, &out->http_statuses);
  ReadCounter(v, "tcp_failures", path, errs, &out->tcp_failures);
  ReadCounter(v, "timeouts", path, errs, &out->timeouts);
  ReadCounter(v, "http_failures", path, errs, &out->http_failures);
  if (active) {
    RejectUnknown(v, path, {"interval", "http_statuses", "tcp_failures", "timeouts", "http_failures"}, errs);
  } else {
    RejectUnknown(v, path, {"http_statuses", "tcp_failures", "timeouts", "http_failures"}, errs);
  }
}

void ReadHeaders(const json& v, const std::string& path, Errors* errs,
                 std::map<std::string, std::vector<std::string>>* out) {
  if (!v.is_object()) {
    errs->Field(path, "expected a map");
    return;
  }
  std::map<std::string, std::vector<std::string>> headers;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key().empty()) {
      errs->Field(path, "length must be at least 1");
      return;
    }
    if (auto bad = CheckHeaderName(it.key())) {
      errs->Field(path, *bad);
      return;
    }
    if (!it->is_array()) {
      errs->Field(path, "expected an array");
      return;
    }
    std::vector<std::string> values;
    for (const auto& e : *it) {
      if (!e.is_string()) {
        errs->Field(path, "expected a string");
        return;
      }
      values.push_back(e.get<std::string>());
    }
    headers[it.key()] = std::move(values);
  }
  *out = std::move(headers);
}

void ReadActive(const json& v, const std::string& path, Errors* errs, ActiveConfig* out) {
  if (!IsRecord(v, path, errs)) return;
  ReadCheckType(v, path, errs, &out->type);
  ReadSeconds(v, "timeout", path, errs, &out->timeout);
  if (const json* c = Member(v, "concurrency")) {
    ReadInteger(*c, Join(path, "concurrency"), errs, 1, kConcurrencyMax, &out->concurrency);
  }
  if (const json* p = Member(v, "http_path")) {
    std::string s, at = Join(path, "http_path");
    if (ReadString(*p, at, errs, &s)) {
      if (auto bad = CheckPath(s)) {
        errs->Field(at, *bad);
      } else {
        out->http_path = s;
      }
    }
  }
  if (const json* p = Member(v, "https_sni")) {
    std::string s, at = Join(path, "https_sni");
    if (ReadString(*p, at, errs, &s)) {
      if (auto bad = CheckSni(s)) {
        errs->Field(at, *bad);
      } else {
        out->https_sni = s;
      }
    }
  }
  if (const json* b = Member(v, "https_verify_certificate")) {
    ReadBoolean(*b, Join(path, "https_verify_certificate"), errs, &out->https_verify_certificate);
  }
  if (const json* h = Member(v, "headers")) ReadHeaders(*h, Join(path, "headers"), errs, &out->headers);
  if (const json* h = Member(v, "healthy")) ReadHealthy(*h, Join(path, "healthy"), true, errs, &out->healthy);
  if (const json* u = Member(v, "unhealthy")) ReadUnhealthy(*u, Join(path, "unhealthy"), true, errs, &out->unhealthy);
  RejectUnknown(v, path,
                {"type", "timeout", "concurrency", "http_path", "https_sni", "https_verify_certificate",
                 "headers", "healthy", "unhealthy"},
                errs);
  // Kong's schema accepts grpc probes and its checker then fails on reload
  // (Kong #13336). svc says so up front, and only when probes would run.
  if ((out->type == "grpc" || out->type == "grpcs") &&
      (out->healthy.interval > 0 || out->unhealthy.interval > 0)) {
    errs->Field(Join(path, "type"), "'" + out->type + "' probes are not supported; use http, https or tcp");
  }
}

void ReadPassive(const json& v, const std::string& path, Errors* errs, PassiveConfig* out) {
  if (!IsRecord(v, path, errs)) return;
  ReadCheckType(v, path, errs, &out->type);
  if (const json* h = Member(v, "healthy")) ReadHealthy(*h, Join(path, "healthy"), false, errs, &out->healthy);
  if (const json* u = Member(v, "unhealthy")) ReadUnhealthy(*u, Join(path, "unhealthy"), false, errs, &out->unhealthy);
  RejectUnknown(v, path, {"type", "healthy", "unhealthy"}, errs);
}

json HealthyJson(const HealthyConfig& h, bool active) {
  json j = json::object();
  if (active) j["interval"] = NumberJson(h.interval);
  j["http_statuses"] = h.http_statuses;
  j["successes"] = h.successes;
  return j;
}

json UnhealthyJson(const UnhealthyConfig& u, bool active) {
  json j = json::object();
  if (active) j["interval"] = NumberJson(u.interval);
  j["http_statuses"] = u.http_statuses;
  j["tcp_failures"] = u.tcp_failures;
  j["timeouts"] = u.timeouts;
  j["http_failures"] = u.http_failures;
  return j;
}

}  // namespace

void ParseHealthchecks(const json& v, const std::string& path, Errors* errs, HealthchecksConfig* out) {
  HealthchecksConfig hc;
  hc.active.healthy.http_statuses = kActiveHealthy;
  hc.active.unhealthy.http_statuses = kActiveUnhealthy;
  hc.passive.healthy.http_statuses = kPassiveHealthy;
  hc.passive.unhealthy.http_statuses = kPassiveUnhealthy;
  if (!v.is_null() && IsRecord(v, path, errs)) {
    if (const json* a = Member(v, "active")) ReadActive(*a, Join(path, "active"), errs, &hc.active);
    if (const json* p = Member(v, "passive")) ReadPassive(*p, Join(path, "passive"), errs, &hc.passive);
    if (const json* t = Member(v, "threshold")) ReadNumber(*t, Join(path, "threshold"), errs, 0, 100, &hc.threshold);
    RejectUnknown(v, path, {"active", "passive", "threshold"}, errs);
  }
  *out = std::move(hc);
}

json HealthchecksToJson(const HealthchecksConfig& hc) {
  const ActiveConfig& a = hc.active;
  json active = json::object();
  active["type"] = a.type;
  active["timeout"] = NumberJson(a.timeout);
  active["concurrency"] = a.concurrency;
  active["http_path"] = a.http_path;
  active["https_sni"] = a.https_sni ? json(*a.https_sni) : json(nullptr);
  active["https_verify_certificate"] = a.https_verify_certificate;
  active["headers"] = a.headers.empty() ? json(nullptr) : json(a.headers);
  active["healthy"] = HealthyJson(a.healthy, true);
  active["unhealthy"] = UnhealthyJson(a.unhealthy, true);
  json passive = json::object();
  passive["type"] = hc.passive.type;
  passive["healthy"] = HealthyJson(hc.passive.healthy, false);
  passive["unhealthy"] = UnhealthyJson(hc.passive.unhealthy, false);
  return json{{"active", active}, {"passive", passive}, {"threshold", NumberJson(hc.threshold)}};
}

}  // namespace schema

}  // namespace svc::config
