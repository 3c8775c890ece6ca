// The Target entity: Kong 3.2's schema (kong/db/schema/entities/targets.lua) and
// the DAO's normalisation (format_host(normalize_ip(target), 8000)).
#include <algorithm>
#include <chrono>

#include "config/schema.h"

namespace svc::config {

namespace {

using schema::Errors;
using schema::json;

constexpr int kDefaultPort = 8000;  // Kong: kong/db/dao/targets.lua DEFAULT_PORT

const std::vector<std::string> kFieldOrder = {"id", "created_at", "upstream", "target", "weight", "tags"};

std::string InvalidTarget(std::string_view text) {
  if (!schema::ValidUtf8(text)) return "Invalid target; not a valid hostname or ip address";
  return "Invalid target ('" + std::string(text) + "'); not a valid hostname or ip address";
}

const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Status NormalizeTarget(std::string_view text, TargetAddress* out) {
  schema::HostPort hp;
  if (schema::NormalizeIp(text, &hp)) return Error(Code::config, "target: " + InvalidTarget(text));
  TargetAddress a;
  a.kind = hp.kind;
  a.port = hp.port.value_or(kDefaultPort);
  a.host = (hp.kind == TargetAddress::Kind::ipv6) ? "[" + hp.host + "]" : hp.host;
  a.target = a.host + ":" + std::to_string(a.port);
  *out = std::move(a);
  return Status::Ok();
}

Status ValidateWeight(int64_t weight) {
  if (weight < 0 || weight > 65535) return Error(Code::config, "weight: " + schema::Between(0, 65535));
  return Status::Ok();
}

Status ParseTarget(const nlohmann::json& entity, TargetConfig* out) {
  if (!entity.is_object()) return Error(Code::config, "expected a record");
  Errors errs(kFieldOrder);
  TargetConfig t;
  if (const json* v = Member(entity, "id")) {
    schema::ReadUuid(*v, "id", &errs, &t.id);
  } else {
    t.id = NewUuid();
  }
  if (const json* v = Member(entity, "created_at")) {
    // Kong shows seconds with millisecond precision; TargetConfig keeps milliseconds.
    double seconds = 0;
    if (schema::ReadNumber(*v, "created_at", &errs, 0, 1e12, &seconds)) t.created_at = seconds * 1000;
  } else {
    using namespace std::chrono;
    t.created_at = static_cast<double>(
        duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  }
  // `upstream` (the parent's foreign key) is accepted and left to the caller.
  if (const json* v = Member(entity, "target")) {
    std::string text;
    if (schema::ReadString(*v, "target", &errs, &text)) {
      schema::HostPort hp;
      if (schema::NormalizeIp(text, &hp)) {
        errs.Field("target", InvalidTarget(text));
      } else {
        NormalizeTarget(text, &t.address);
      }
    }
  } else {
    errs.Field("target", "required field missing");
  }
  if (const json* v = Member(entity, "weight")) {
    int64_t w = 0;
    if (schema::ReadInteger(*v, "weight", &errs, 0, 65535, &w)) t.weight = static_cast<int>(w);
  }
  if (const json* v = Member(entity, "tags")) schema::ReadTags(*v, "tags", &errs, &t.tags);
  for (auto it = entity.begin(); it != entity.end(); ++it) {
    if (std::find(kFieldOrder.begin(), kFieldOrder.end(), it.key()) == kFieldOrder.end()) {
      errs.Field(it.key(), "unknown field");
    }
  }
  if (!errs.empty()) return Error(Code::config, errs.Join());
  *out = std::move(t);
  return Status::Ok();
}

nlohmann::json TargetToJson(const TargetConfig& t, const std::string& upstream_id) {
  json j = json::object();
  j["id"] = t.id;
  j["created_at"] = schema::NumberJson(t.created_at / 1000);  // Kong: seconds, ms precision
  j["upstream"] = {{"id", upstream_id}};
  j["target"] = t.address.target;
  j["weight"] = t.weight;
  j["tags"] = t.tags.empty() ? json(nullptr) : json(t.tags);
  return j;
}

}  // namespace svc::config
