// config-internal: the pieces of Kong's schema library (kong/db/schema/init.lua,
// typedefs.lua, kong/tools/utils.lua) that the Upstream and Target entities use.
// Not part of the subsystem's interface; only config/*.cpp include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace svc::config::schema {

using nlohmann::json;

// Collects Kong-style violations: entity-level messages ("@entity") and
// field messages keyed by a dotted path. Join() renders them the way Kong's
// errors.lua does (entity messages first), but with fields in schema order.
class Errors {
 public:
  // `order` lists the top-level field names in schema order; a field path
  // sorts by its first segment's position (unknown names last).
  explicit Errors(std::vector<std::string> order = {}) : order_(std::move(order)) {}

  void Field(const std::string& path, const std::string& message);  // first one per path wins
  void Entity(const std::string& message);                         // duplicates dropped
  bool Has(const std::string& path) const;
  bool HasUnder(const std::string& prefix) const;  // path == prefix or starts with prefix + "."
  bool empty() const { return fields_.empty() && entity_.empty(); }
  std::string Join() const;

 private:
  size_t Rank(const std::string& path) const;

  std::vector<std::string> order_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::vector<std::string> entity_;
};

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string Join(const std::string& prefix, const std::string& name);

// Kong's generic validator messages.
std::string Between(int64_t min, int64_t max);  // "value should be between %d and %d"
std::string OneOf(const std::vector<std::string>& values);  // "expected one of: a, b"

// Typed readers. Each returns false (after recording Kong's message at `path`)
// when `v` has the wrong type or breaks the constraint; `v` must not be null.
bool ReadString(const json& v, const std::string& path, Errors* errs, std::string* out);
bool ReadInteger(const json& v, const std::string& path, Errors* errs, int64_t min, int64_t max,
                 int64_t* out);
bool ReadNumber(const json& v, const std::string& path, Errors* errs, double min, double max,
                double* out);
bool ReadBoolean(const json& v, const std::string& path, Errors* errs, bool* out);
// A set of tags (typedefs.tags): strings, each a valid tag; duplicates dropped.
bool ReadTags(const json& v, const std::string& path, Errors* errs, std::vector<std::string>* out);
// typedefs.uuid: "expected a valid UUID".
bool ReadUuid(const json& v, const std::string& path, Errors* errs, std::string* out);

// Kong's utils.validate_utf8.
bool ValidUtf8(std::string_view s);
bool IsUuid(std::string_view s);

// Kong's utils.normalize_ip: "ipv4" / "ipv6" / "name", normalised host
// (IPv6 expanded, lower case, no brackets), optional port. On failure returns
// Kong's error text ("invalid hostname: x", "invalid port number", ...).
struct HostPort {
  TargetAddress::Kind kind = TargetAddress::Kind::name;
  std::string host;
  std::optional<int> port;
};
std::optional<std::string> NormalizeIp(std::string_view address, HostPort* out);

// Validators returning Kong's message, or nullopt when valid.
std::optional<std::string> CheckHeaderName(const std::string& name);
std::optional<std::string> CheckCookieName(const std::string& name);
std::optional<std::string> CheckPath(const std::string& path);  // typedefs.path
std::optional<std::string> CheckSni(const std::string& host);   // typedefs.sni
std::optional<std::string> CheckHostWithOptionalPort(const std::string& host);

// Healthchecks (healthchecks.cpp).
void ParseHealthchecks(const json& v, const std::string& path, Errors* errs, HealthchecksConfig* out);
json HealthchecksToJson(const HealthchecksConfig& hc);

// Numbers as Kong's cjson prints them: integral values without ".0".
json NumberJson(double d);

// Copying and converting a document recurse once per level, so input that
// nests deeper than this is refused before either happens. Kong's documents
// nest under 10 levels (an upstream's healthchecks.active.headers is 5).
constexpr size_t kMaxNesting = 100;

// Levels of `v` (a scalar is 0, [] and {} are 1, [[1]] is 2), counted
// without recursion; counting stops past `limit`.
size_t Nesting(const json& v, size_t limit);

}  // namespace svc::config::schema
