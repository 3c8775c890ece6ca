// The Upstream entity: Kong 3.2's schema (kong/db/schema/entities/upstreams.lua),
// its shorthands, defaults, field validators and entity checks.
#include <algorithm>
#include <ctime>

#include "config/schema.h"

namespace svc::config {

namespace {

using schema::Errors;
using schema::json;

const std::vector<std::string> kFieldOrder = {
    "id", "created_at", "name", "algorithm", "hash_on", "hash_fallback", "hash_on_header",
    "hash_fallback_header", "hash_on_cookie", "hash_on_cookie_path", "hash_on_query_arg",
    "hash_fallback_query_arg", "hash_on_uri_capture", "hash_fallback_uri_capture", "slots",
    "healthchecks", "tags", "host_header", "client_certificate", "use_srv_name"};

const std::vector<std::string> kAlgorithms = {"consistent-hashing", "least-connections",
                                              "round-robin", "latency"};
const std::vector<std::string> kHashOn = {"none", "consumer", "ip", "header", "cookie",
                                          "path", "query_arg", "uri_capture"};

const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Kong's shorthand_fields, run in order on the input before anything else.
void ApplyShorthands(json* e) {
  if (auto it = e->find("algorithm"); it != e->end() && it->is_string()) {
    const auto& a = it->get_ref<const std::string&>();
    if (a == "least-connections" || a == "latency") (*e)["hash_on"] = nullptr;
  }
  if (auto it = e->find("hash_on"); it != e->end()) {
    if (it->is_null()) {
      *it = "none";  // Kong: a null hash_on becomes "none"; the algorithm stays
    } else if (it->is_string()) {
      // Kong: hash_on decides the algorithm: "none" forces round-robin, any other
      // value forces consistent-hashing.
      (*e)["algorithm"] = (it->get_ref<const std::string&>() == "none") ? "round-robin"
                                                                          : "consistent-hashing";
    }
  }
}

void ReadEnum(const json& e, const char* key, const std::vector<std::string>& values, Errors* errs,
              std::string* out) {
  const json* v = Member(e, key);
  if (!v) return;
  std::string s;
  if (!schema::ReadString(*v, key, errs, &s)) return;
  if (std::find(values.begin(), values.end(), s) == values.end()) {
    errs->Field(key, schema::OneOf(values));
    return;
  }
  *out = s;
}

// A string field with an optional Kong custom validator.
void ReadOptional(const json& e, const char* key, Errors* errs, std::optional<std::string>* out,
                  std::optional<std::string> (*check)(const std::string&) = nullptr) {
  const json* v = Member(e, key);
  if (!v) return;
  std::string s;
  if (!schema::ReadString(*v, key, errs, &s)) return;
  if (check) {
    if (auto bad = check(s)) {
      errs->Field(key, *bad);
      return;
    }
  }
  *out = s;
}

std::optional<std::string> CheckName(const std::string& name) {
  schema::HostPort hp;
  auto err = schema::NormalizeIp(name, &hp);
  std::string prefix = schema::ValidUtf8(name) ? "Invalid name ('" + name + "')" : "Invalid name";
  if (err) return prefix + "; must be a valid hostname";
  if (hp.kind != TargetAddress::Kind::name) return prefix + "; no ip addresses allowed";
  if (hp.port) return prefix + "; no port allowed";
  return std::nullopt;
}

void ReadClientCertificate(const json& v, Errors* errs, std::optional<std::string>* out) {
  // A foreign key: {"id": "<uuid>"}; the bare id is accepted as a convenience.
  std::string id;
  if (v.is_string()) {
    if (schema::ReadUuid(v, "client_certificate.id", errs, &id)) *out = id;
    return;
  }
  if (!v.is_object()) {
    errs->Field("client_certificate", "expected a record");
    return;
  }
  bool ok = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "id") {
      errs->Field("client_certificate." + it.key(), "unknown field");
      ok = false;
    }
  }
  const json* idv = Member(v, "id");
  if (!idv) {
    errs->Field("client_certificate.id", "required field missing");
    return;
  }
  if (schema::ReadUuid(*idv, "client_certificate.id", errs, &id) && ok) *out = id;
}

// Values as the entity checks see them (nullopt = null).
std::optional<std::string> FieldValue(const UpstreamConfig& u, const std::string& field) {
  if (field == "hash_on") return u.hash_on;
  if (field == "hash_fallback") return u.hash_fallback;
  if (field == "hash_on_header") return u.hash_on_header;
  if (field == "hash_fallback_header") return u.hash_fallback_header;
  if (field == "hash_on_cookie") return u.hash_on_cookie;
  if (field == "hash_on_query_arg") return u.hash_on_query_arg;
  if (field == "hash_fallback_query_arg") return u.hash_fallback_query_arg;
  if (field == "hash_on_uri_capture") return u.hash_on_uri_capture;
  if (field == "hash_fallback_uri_capture") return u.hash_fallback_uri_capture;
  return std::nullopt;
}

// Kong's `conditional` entity check: when if_field equals if_value, then_field
// must be set (`one_of` empty) or be one of `one_of`. Skipped when either field
// already failed validation.
void Conditional(const UpstreamConfig& u, const std::string& if_field, const std::string& if_value,
                 const std::string& then_field, const std::vector<std::string>& one_of, Errors* errs) {
  if (errs->Has(if_field) || errs->Has(then_field)) return;
  if (FieldValue(u, if_field) != if_value) return;
  auto then_value = FieldValue(u, then_field);
  std::optional<std::string> problem;
  if (!then_value) {
    problem = "required field missing";
  } else if (!one_of.empty() &&
             std::find(one_of.begin(), one_of.end(), *then_value) == one_of.end()) {
    problem = schema::OneOf(one_of);
  }
  if (!problem) return;
  errs->Entity("failed conditional validation given value of field '" + if_field + "'");
  errs->Field(then_field, *problem);
}

// Kong's `distinct` entity check.
void Distinct(const UpstreamConfig& u, const std::string& a, const std::string& b, Errors* errs) {
  if (errs->Has(a) || errs->Has(b)) return;
  auto va = FieldValue(u, a), vb = FieldValue(u, b);
  if (va && vb && *va == *vb) {
    errs->Entity("values of these fields must be distinct: '" + a + "', '" + b + "'");
  }
}

void EntityChecks(const UpstreamConfig& u, Errors* errs) {
  auto without = [](const std::string& v) {
    std::vector<std::string> out;
    for (const auto& h : kHashOn) {
      if (h != v) out.push_back(h);
    }
    return out;
  };
  Conditional(u, "hash_on", "header", "hash_on_header", {}, errs);
  Conditional(u, "hash_fallback", "header", "hash_fallback_header", {}, errs);
  Conditional(u, "hash_on", "cookie", "hash_on_cookie", {}, errs);
  Conditional(u, "hash_fallback", "cookie", "hash_on_cookie", {}, errs);
  Conditional(u, "hash_on", "none", "hash_fallback", {"none"}, errs);
  Conditional(u, "hash_on", "cookie", "hash_fallback", {"none"}, errs);
  Conditional(u, "hash_on", "consumer", "hash_fallback", without("consumer"), errs);
  Conditional(u, "hash_on", "ip", "hash_fallback", without("ip"), errs);
  Conditional(u, "hash_on", "path", "hash_fallback", without("path"), errs);
  Distinct(u, "hash_on_header", "hash_fallback_header", errs);
  Conditional(u, "hash_on", "query_arg", "hash_on_query_arg", {}, errs);
  Conditional(u, "hash_fallback", "query_arg", "hash_fallback_query_arg", {}, errs);
  Distinct(u, "hash_on_query_arg", "hash_fallback_query_arg", errs);
  Conditional(u, "hash_on", "uri_capture", "hash_on_uri_capture", {}, errs);
  Conditional(u, "hash_fallback", "uri_capture", "hash_fallback_uri_capture", {}, errs);
  Distinct(u, "hash_on_uri_capture", "hash_fallback_uri_capture", errs);
}

json Nullable(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

Status ParseUpstream(const nlohmann::json& entity, UpstreamConfig* out) {
  if (!entity.is_object()) return Error(Code::config, "expected a record");
  // Before the copy: it recurses once per level of nesting.
  for (auto it = entity.begin(); it != entity.end(); ++it) {
    if (schema::Nesting(*it, schema::kMaxNesting - 1) > schema::kMaxNesting - 1) {
      return Error(Code::config, it.key() + ": nested deeper than " + std::to_string(schema::kMaxNesting) +
                                     " levels");
    }
  }
  json e = entity;
  ApplyShorthands(&e);

  Errors errs(kFieldOrder);
  UpstreamConfig u;
  if (const json* v = Member(e, "id")) {
    schema::ReadUuid(*v, "id", &errs, &u.id);
  } else {
    u.id = NewUuid();
  }
  if (const json* v = Member(e, "created_at")) {
    schema::ReadInteger(*v, "created_at", &errs, INT64_MIN, INT64_MAX, &u.created_at);
  } else {
    u.created_at = static_cast<int64_t>(std::time(nullptr));
  }
  if (const json* v = Member(e, "name")) {
    if (schema::ReadString(*v, "name", &errs, &u.name)) {
      if (auto bad = CheckName(u.name)) errs.Field("name", *bad);
    }
  } else {
    errs.Field("name", "required field missing");
  }
  ReadEnum(e, "algorithm", kAlgorithms, &errs, &u.algorithm);
  ReadEnum(e, "hash_on", kHashOn, &errs, &u.hash_on);
  ReadEnum(e, "hash_fallback", kHashOn, &errs, &u.hash_fallback);
  ReadOptional(e, "hash_on_header", &errs, &u.hash_on_header, schema::CheckHeaderName);
  ReadOptional(e, "hash_fallback_header", &errs, &u.hash_fallback_header, schema::CheckHeaderName);
  ReadOptional(e, "hash_on_cookie", &errs, &u.hash_on_cookie, schema::CheckCookieName);
  std::optional<std::string> cookie_path;
  ReadOptional(e, "hash_on_cookie_path", &errs, &cookie_path, schema::CheckPath);
  if (cookie_path) u.hash_on_cookie_path = *cookie_path;
  ReadOptional(e, "hash_on_query_arg", &errs, &u.hash_on_query_arg);
  ReadOptional(e, "hash_fallback_query_arg", &errs, &u.hash_fallback_query_arg);
  ReadOptional(e, "hash_on_uri_capture", &errs, &u.hash_on_uri_capture);
  ReadOptional(e, "hash_fallback_uri_capture", &errs, &u.hash_fallback_uri_capture);
  if (const json* v = Member(e, "slots")) {
    int64_t slots = 0;
    if (schema::ReadInteger(*v, "slots", &errs, 10, 65536, &slots)) u.slots = static_cast<int>(slots);
  }
  schema::ParseHealthchecks(e.contains("healthchecks") ? e["healthchecks"] : json(nullptr),
                            "healthchecks", &errs, &u.healthchecks);
  if (const json* v = Member(e, "tags")) schema::ReadTags(*v, "tags", &errs, &u.tags);
  ReadOptional(e, "host_header", &errs, &u.host_header, schema::CheckHostWithOptionalPort);
  if (const json* v = Member(e, "client_certificate")) ReadClientCertificate(*v, &errs, &u.client_certificate);
  if (const json* v = Member(e, "use_srv_name")) schema::ReadBoolean(*v, "use_srv_name", &errs, &u.use_srv_name);
  for (auto it = e.begin(); it != e.end(); ++it) {
    if (std::find(kFieldOrder.begin(), kFieldOrder.end(), it.key()) == kFieldOrder.end()) {
      errs.Field(it.key(), "unknown field");
    }
  }

  EntityChecks(u, &errs);
  if (!errs.empty()) return Error(Code::config, errs.Join());
  *out = std::move(u);
  return Status::Ok();
}

nlohmann::json UpstreamToJson(const UpstreamConfig& u) {
  json j = json::object();
  j["id"] = u.id;
  j["created_at"] = u.created_at;
  j["name"] = u.name;
  j["algorithm"] = u.algorithm;
  j["hash_on"] = u.hash_on;
  j["hash_fallback"] = u.hash_fallback;
  j["hash_on_header"] = Nullable(u.hash_on_header);
  j["hash_fallback_header"] = Nullable(u.hash_fallback_header);
  j["hash_on_cookie"] = Nullable(u.hash_on_cookie);
  j["hash_on_cookie_path"] = u.hash_on_cookie_path;
  j["hash_on_query_arg"] = Nullable(u.hash_on_query_arg);
  j["hash_fallback_query_arg"] = Nullable(u.hash_fallback_query_arg);
  j["hash_on_uri_capture"] = Nullable(u.hash_on_uri_capture);
  j["hash_fallback_uri_capture"] = Nullable(u.hash_fallback_uri_capture);
  j["slots"] = u.slots;
  j["healthchecks"] = schema::HealthchecksToJson(u.healthchecks);
  j["tags"] = u.tags.empty() ? json(nullptr) : json(u.tags);
  j["host_header"] = Nullable(u.host_header);
  j["client_certificate"] = u.client_certificate ? json{{"id", *u.client_certificate}} : json(nullptr);
  j["use_srv_name"] = u.use_srv_name;
  return j;
}

}  // namespace svc::config
