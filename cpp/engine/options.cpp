#include "engine/options.h"

#include "config/schema.h"

#include <nlohmann/json.hpp>

namespace svc {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  // Every key of the object must be one of `known`.
  Status Only(std::initializer_list<const char*> known) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      bool ok = false;
      for (const char* k : known) ok = ok || it.key() == k;
      if (!ok) return Error(Code::invalid, path_ + ": unknown key '" + it.key() + "'");
    }
    return Status::Ok();
  }

  Status Int(const char* key, int64_t lo, int64_t hi, int64_t* out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    if (!it->is_number_integer() ||
        it->get<int64_t>() < lo || it->get<int64_t>() > hi)
      return Error(Code::invalid, Path(key) + ": expected an integer between " + std::to_string(lo) +
                                      " and " + std::to_string(hi) + ", given " + it->dump());
    *out = it->get<int64_t>();
    return Status::Ok();
  }
  Status Int(const char* key, int64_t lo, int64_t hi, int* out) const {
    int64_t v = *out;
    SVC_TRY(Int(key, lo, hi, &v));
    *out = static_cast<int>(v);
    return Status::Ok();
  }

  Status Number(const char* key, double lo, double hi, double* out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    if (!it->is_number() || it->get<double>() < lo || it->get<double>() > hi)
      return Error(Code::invalid, Path(key) + ": expected a number between " + Fmt(lo) + " and " +
                                      Fmt(hi) + ", given " + it->dump());
    *out = it->get<double>();
    return Status::Ok();
  }

  Status Bool(const char* key, bool* out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    if (!it->is_boolean()) return Error(Code::invalid, Path(key) + ": expected a boolean, given " + it->dump());
    *out = it->get<bool>();
    return Status::Ok();
  }

  Status OneOf(const char* key, std::initializer_list<const char*> allowed, std::string* out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    std::string list;
    bool ok = false;
    for (const char* a : allowed) {
      if (!list.empty()) list += ", ";
      list += a;
      ok = ok || (it->is_string() && it->get<std::string>() == a);
    }
    if (!ok) return Error(Code::invalid, Path(key) + ": expected one of: " + list + ", given " + it->dump());
    *out = it->get<std::string>();
    return Status::Ok();
  }

  Status Strings(const char* key, std::vector<std::string>* out) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    if (!it->is_array()) return Error(Code::invalid, Path(key) + ": expected an array of strings, given " + it->dump());
    std::vector<std::string> v;
    for (const json& e : *it) {
      if (!e.is_string() || e.get<std::string>().empty())
        return Error(Code::invalid, Path(key) + ": expected an array of strings, given " + it->dump());
      v.push_back(e.get<std::string>());
    }
    *out = std::move(v);
    return Status::Ok();
  }

  // A nested object, or nullptr when absent.
  Status Object(const char* key, const json** out) const {
    *out = nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end()) return Status::Ok();
    if (!it->is_object()) return Error(Code::invalid, Path(key) + ": expected an object, given " + it->dump());
    *out = &*it;
    return Status::Ok();
  }

  std::string Path(const char* key) const { return path_ + "." + key; }

 private:
  static std::string Fmt(double d) {
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  const json& obj_;
  std::string path_;
};

constexpr int64_t kMaxTimeout = 2147483646;

}  // namespace

Status ParseEngineOptions(std::string_view text, EngineOptions* out) {
  EngineOptions o;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    *out = o;
    return Status::Ok();
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded())
    return Error(Code::invalid, "options: not valid JSON: " + std::string(text.substr(0, 200)));
  // Messages below print values, which recurses once per level: refuse deep
  // input first (options nest 2 levels).
  if (config::schema::Nesting(doc, config::schema::kMaxNesting) > config::schema::kMaxNesting)
    return Error(Code::invalid, "options: nested deeper than " + std::to_string(config::schema::kMaxNesting) + " levels");
  if (!doc.is_object()) return Error(Code::invalid, "options: expected a JSON object, given " + doc.dump());

  Reader r(doc, "options");
  SVC_TRY(r.Only({"io_threads", "scheme", "retries", "timeouts", "tls", "keepalive", "dns", "limits", "read_spin_us",
                  "seed"}));
  SVC_TRY(r.Int("io_threads", 1, 64, &o.io_threads));
  SVC_TRY(r.OneOf("scheme", {"http", "https", "tcp", "tls"}, &o.scheme));
  SVC_TRY(r.Int("retries", 0, 32767, &o.retries));
  SVC_TRY(r.Int("read_spin_us", 0, 10000, &o.read_spin_us));
  int64_t seed = 0;
  SVC_TRY(r.Int("seed", 0, INT64_MAX, &seed));
  o.seed = static_cast<uint64_t>(seed);

  const json* sub = nullptr;
  SVC_TRY(r.Object("timeouts", &sub));
  if (sub) {
    Reader t(*sub, r.Path("timeouts"));
    SVC_TRY(t.Only({"connect", "write", "read"}));
    SVC_TRY(t.Int("connect", 1, kMaxTimeout, &o.connect_timeout_ms));
    SVC_TRY(t.Int("write", 1, kMaxTimeout, &o.write_timeout_ms));
    SVC_TRY(t.Int("read", 1, kMaxTimeout, &o.read_timeout_ms));
  }
  SVC_TRY(r.Object("tls", &sub));
  if (sub) {
    Reader t(*sub, r.Path("tls"));
    SVC_TRY(t.Only({"verify", "trust", "ca_file", "min_version"}));
    SVC_TRY(t.Bool("verify", &o.tls_verify));
    SVC_TRY(t.OneOf("trust", {"system", "none"}, &o.tls_trust));
    if (const auto it = sub->find("ca_file"); it != sub->end()) {
      if (!it->is_string() || it->get<std::string>().empty())
        return Error(Code::invalid, "options.tls.ca_file: expected a file path, given " + it->dump());
      o.tls_ca_file = it->get<std::string>();
    }
    SVC_TRY(t.OneOf("min_version", {"1.2", "1.3"}, &o.tls_min_version));
  }
  SVC_TRY(r.Object("keepalive", &sub));
  if (sub) {
    Reader t(*sub, r.Path("keepalive"));
    SVC_TRY(t.Only({"pool_size", "max_requests", "idle_timeout"}));
    SVC_TRY(t.Int("pool_size", 0, 1000000, &o.pool_size));
    SVC_TRY(t.Int("max_requests", 0, 2147483647, &o.max_requests));
    SVC_TRY(t.Number("idle_timeout", 0, 86400, &o.idle_timeout_s));
  }
  SVC_TRY(r.Object("dns", &sub));
  if (sub) {
    Reader t(*sub, r.Path("dns"));
    SVC_TRY(t.Only({"servers", "order", "stale_ttl", "not_found_ttl", "error_ttl"}));
    SVC_TRY(t.Strings("servers", &o.dns_servers));
    SVC_TRY(t.Strings("order", &o.dns_order));
    for (const std::string& s : o.dns_order)
      if (s != "LAST" && s != "SRV" && s != "A" && s != "AAAA" && s != "CNAME")
        return Error(Code::invalid, "options.dns.order: expected LAST, SRV, A, AAAA or CNAME, given \"" + s + "\"");
    SVC_TRY(t.Number("stale_ttl", 0, 2147483647, &o.dns_stale_ttl));
    SVC_TRY(t.Number("not_found_ttl", 0, 2147483647, &o.dns_not_found_ttl));
    SVC_TRY(t.Number("error_ttl", 0, 2147483647, &o.dns_error_ttl));
  }
  SVC_TRY(r.Object("limits", &sub));
  if (sub) {
    Reader t(*sub, r.Path("limits"));
    SVC_TRY(t.Only({"max_header_bytes", "max_body_bytes"}));
    SVC_TRY(t.Int("max_header_bytes", 1024, INT64_C(1) << 30, &o.max_header_bytes));
    SVC_TRY(t.Int("max_body_bytes", 0, INT64_C(1) << 40, &o.max_body_bytes));
  }
  *out = std::move(o);
  return Status::Ok();
}

}  // namespace svc
